#pragma once
// Included before any Boost.Asio header (http_server.cpp, machine_client.cpp).
// Boost 1.74's Asio enables co_await under clang only with libc++'s
// <experimental/coroutine>; clang 14 with libstdc++'s <coroutine> has C++20
// coroutines all the same (the ASan/fuzz folder is built by clang).
#if defined(__clang__) && !defined(BOOST_ASIO_HAS_CO_AWAIT) && __cpp_impl_coroutine >= 201902
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif
