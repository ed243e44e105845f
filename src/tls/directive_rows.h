#pragma once

// Joins a module's own directive rows and the rows the tls layer shares (ssl_*, proxy_ssl_*).

#include <array>
#include <cstddef>

namespace tls {

/// `a` then `b`.
template <class T, size_t N, size_t M>
constexpr std::array<T, N + M> concat(const std::array<T, N>& a, const std::array<T, M>& b) {
    std::array<T, N + M> out{};
    for (size_t i = 0; i < N; i++) {
        out[i] = a[i];
    }
    for (size_t i = 0; i < M; i++) {
        out[N + i] = b[i];
    }
    return out;
}

}  // namespace tls
