// adamd's one port: the core's routes and every plugin's in one router, served
// by the HTTP server (http_server.h).
#include "api/server.h"

#include "api/auth.h"
#include "api/fleet.h"
#include "api/http_server.h"
#include "api/resources.h"
#include "api/router.h"
#include "core/metrics.h"
#include "core/plugin_manager.h"

namespace adam {

struct ApiServer::Impl {
  explicit Impl(ApiContext c)
      : ctx(std::move(c)),
        auth(ctx.tokens, &ctx.events,
             Auth::Options{!ctx.config.tls_cert.empty() || ctx.config.tls_self_signed,
                           ctx.config.allowed_origins}),
        router(auth, ctx.events, metrics),
        server({}, router.application()) {}

  ApiContext ctx;
  HttpMetrics metrics;
  Auth auth;
  Router router;
  FleetPoller fleet;    // polls through the router and the machine store: goes before them
  http::Server server;  // last: it stops before what its handlers use goes
};

ApiServer::ApiServer(ApiContext ctx) : impl_(std::make_unique<Impl>(std::move(ctx))) {
  auto& i = *impl_;
  i.router.add({{"GET", "/healthz", "/healthz", Access::open, [](const Request&) {
                   Reply r;
                   r.content = "ok\n";
                   r.content_type = "text/plain";
                   return r;
                 }}});
  i.router.add(metrics_routes(i.ctx, i.metrics));
  i.router.add(console_routes(i.auth));
  i.router.add(i.auth.routes());
  i.router.add(node_routes(i.ctx));
  i.router.add(plugin_routes(i.ctx));
  i.router.add(token_routes(i.ctx));
  i.router.add(event_routes(i.ctx));
  i.router.add(machine_routes(i.ctx, i.router, i.fleet));
  i.router.add(i.ctx.plugins.routes());
}

ApiServer::~ApiServer() = default;

int ApiServer::bind(const ListenAddress& address) {
  const DaemonConfig& config = impl_->ctx.config;
  std::optional<http::TlsFiles> tls;
  if (!config.tls_cert.empty() || !config.tls_key.empty()) {
    if (config.tls_cert.empty() || config.tls_key.empty())
      throw std::runtime_error("--tls-cert and --tls-key go together: give both or neither");
    tls = http::TlsFiles{config.tls_cert, config.tls_key};
  }
  const int port = impl_->server.listen(address.host, address.port, tls);
  impl_->auth.set_listen_port(port);
  return port;
}

void ApiServer::serve() {
  impl_->fleet.start();  // once every route is in: it calls them
  impl_->server.run();
}

http::Application ApiServer::application() { return impl_->router.application(); }

void ApiServer::stop() {
  impl_->fleet.stop();
  impl_->server.stop();
}

}  // namespace adam
