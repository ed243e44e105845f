#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace core {

/// One word of an enum or bitmask directive and the value it stands for; a table of them
/// also names an enum both ways (value_of to parse, name_of to print).
template <class V>
struct Named {
    std::string_view name;
    V value;
};

/// The value `name` stands for in `table`; nullopt when the table has no such word.
template <class V>
constexpr std::optional<V> value_of(std::span<const Named<V>> table, std::string_view name) {
    for (const Named<V>& n : table) {
        if (n.name == name) {
            return n.value;
        }
    }
    return std::nullopt;
}

/// The word for `value` in `table`, or `fallback` when the table does not name it.
template <class V>
constexpr std::string_view name_of(std::span<const Named<V>> table, V value,
                                   std::string_view fallback) {
    for (const Named<V>& n : table) {
        if (n.value == value) {
            return n.name;
        }
    }
    return fallback;
}

}  // namespace core
