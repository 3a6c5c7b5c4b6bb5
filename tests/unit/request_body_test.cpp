// The API's body decoding (api/router.h): forms and JSON, and what is
// refused before any route sees it.
#include <gtest/gtest.h>

#include "api/router.h"
#include "core/errors.h"

namespace adam {
namespace {

// The field a body is refused for (fails the test when it is accepted).
std::string refused_field(const std::string& body) {
  try {
    parse_json_body(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.field();
  }
  ADD_FAILURE() << "accepted: " << body.substr(0, 80);
  return {};
}

TEST(RequestBody, FormsArePercentDecodedInOrder) {
  const auto pairs = parse_urlencoded("interfaces=veth0%2Cveth1&name=a+b&interfaces=eth0&empty=&flag");
  ASSERT_EQ(pairs.size(), 5u);
  EXPECT_EQ(pairs[0], (std::pair<std::string, std::string>{"interfaces", "veth0,veth1"}));
  EXPECT_EQ(pairs[1].second, "a b");
  EXPECT_EQ(pairs[2].second, "eth0");
  EXPECT_EQ(pairs[3].second, "");
  EXPECT_EQ(pairs[4].first, "flag");
}

TEST(RequestBody, AFormValueThatIsNotUtf8IsRefusedNamingItsKey) {
  try {
    parse_urlencoded("role=viewer&name=%C3%28");
    FAIL() << "accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.field(), "name");
  }
  EXPECT_NO_THROW(parse_urlencoded("name=%C3%A9t%C3%A9"));  // "été"
}

TEST(RequestBody, DeepNestingIsRefusedNamingTheTopLevelField) {
  EXPECT_EQ(refused_field(R"({"a":1,"match":{"src":)" + std::string(100'000, '[')), "match");
  EXPECT_EQ(refused_field(std::string(100'000, '[')), "body");
  EXPECT_EQ(refused_field(R"({"k":")" + std::string(40, '[') + R"(","deep":)" + std::string(40, '{')), "deep")
      << "brackets inside strings do not count";
  EXPECT_NO_THROW(parse_json_body(std::string(32, '[') + std::string(32, ']')));
}

TEST(RequestBody, BadJsonNumbersAndUtf8AreRefusedAsTheBody) {
  EXPECT_EQ(refused_field(R"({"n":1e999})"), "body");
  EXPECT_EQ(refused_field("{\"s\":\"\xff\"}"), "body");
  EXPECT_EQ(refused_field(R"({"a":)"), "body");
  EXPECT_EQ(parse_json_body(R"({"n":1e300})")["n"].get<double>(), 1e300);
}

}  // namespace
}  // namespace adam
