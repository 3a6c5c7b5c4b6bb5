#include "support/sse.h"

#include <httplib.h>

#include <memory>

#include "support/netns.h"

namespace adam::test {

std::vector<nlohmann::json> read_sse_events(const Adamd& adamd, const std::string& path,
                                            const std::string& event, size_t count,
                                            std::chrono::milliseconds timeout) {
  std::string received;
  std::vector<nlohmann::json> events;
  const std::string head = "event: " + event + "\ndata: ";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_ptr<ScopedNetns> in_netns;
  if (!adamd.netns().empty()) in_netns = std::make_unique<ScopedNetns>(adamd.netns());
  httplib::Client client("127.0.0.1", adamd.port());
  client.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout).count() + 1);
  size_t parsed_up_to = 0;
  client.Get(path, {{"Authorization", "Bearer " + adamd.admin_token()}, {"Accept", "text/event-stream"}},
             [&](const char* data, size_t length) {
               received.append(data, length);
               for (size_t at; (at = received.find(head, parsed_up_to)) != std::string::npos;) {
                 const size_t end = received.find('\n', at + head.size());
                 if (end == std::string::npos) break;  // the rest of the line comes next
                 events.push_back(nlohmann::json::parse(
                     received.substr(at + head.size(), end - at - head.size()), nullptr, false));
                 parsed_up_to = end;
               }
               return events.size() < count && std::chrono::steady_clock::now() < deadline;
             });
  if (events.size() > count) events.resize(count);
  return events;
}

}  // namespace adam::test
