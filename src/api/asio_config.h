#pragma once
// Included before any Boost.Asio header (src/api/http_server.cpp,
// src/api/machine_client.cpp). Boost 1.74 enables co_await on clang only with
// <experimental/coroutine>, which libstdc++ does not have; clang 14 (the
// sanitized builds', docs/testing.md "Sanitizers") compiles Asio's
// awaitables against <coroutine> as GCC does. awaitable.hpp uses
// std::exchange without including <utility>.
#if defined(__clang__) && !defined(BOOST_ASIO_HAS_CO_AWAIT)
#include <utility>
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif
