#pragma once
// Reading a Server-Sent Events stream of a real adamd the way a browser's
// EventSource does, for tests of the streams (the firewall's flow, the lb's
// rates).
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/adamd.h"

namespace adam::test {

// The data of the first `count` events named `event` of the stream at
// `path` (asked from inside adamd's namespace, with the admin token), each
// parsed as JSON (null when it is not); fewer when `timeout` passes first.
// The client hangs up then.
std::vector<nlohmann::json> read_sse_events(const Adamd& adamd, const std::string& path,
                                            const std::string& event, size_t count,
                                            std::chrono::milliseconds timeout);

}  // namespace adam::test
