#pragma once
// adamd's one HTTP port: REST API (/api/v1), web console (/), /healthz and
// /metrics. Content negotiation: a request with `HX-Request: true` gets an
// HTML fragment of the same resource, anything else JSON.
#include <chrono>
#include <memory>
#include <string>

#include "core/config.h"

namespace adam {

class EventHub;
class MachineStore;
namespace http {
struct Application;
}
class PluginManager;
class TokenStore;
class XdpChain;
struct KernelFeatures;

struct ApiContext {
  PluginManager& plugins;
  TokenStore& tokens;
  XdpChain& xdp;
  const KernelFeatures& features;
  EventHub& events;
  DaemonConfig config;
  std::chrono::system_clock::time_point started_at;
  MachineStore& machines;       // the console's machine registry
  std::string tls_fingerprint;  // of the certificate served (HTTPS), else empty
};

class ApiServer {
 public:
  explicit ApiServer(ApiContext ctx);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket; returns the port (useful with port 0).
  // Throws std::runtime_error naming the address when it cannot.
  int bind(const ListenAddress& address);
  // Serves until stop() (from any thread).
  void serve();
  void stop();
  // What the server serves, for a caller in-process without a socket (the
  // router's fuzz target): the same routes, authentication and limits.
  http::Application application();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace adam
