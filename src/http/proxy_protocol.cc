#include "http/proxy_protocol.h"

#include <string>

#include "http/session.h"
#include "http/variables.h"

namespace http {
namespace {
const ProxyHeader* header_of(const Request& r) {
    return r.session != nullptr ? r.session->proxy_header() : nullptr;
}

template <bool Server, bool Port>
bool get_addr(const Request& r, std::string_view, std::string& out) {
    const ProxyHeader* h = header_of(r);
    if (h == nullptr || !h->has_addrs) {
        return false;
    }
    const core::SockAddr& a = Server ? h->dst : h->src;
    out += Port ? std::to_string(a.port()) : a.host_text();
    return true;
}

}  // namespace

std::vector<VariableDef> proxy_protocol_variables() {
    return {
        {"proxy_protocol_addr", &get_addr<false, false>},
        {"proxy_protocol_port", &get_addr<false, true>},
        {"proxy_protocol_server_addr", &get_addr<true, false>},
        {"proxy_protocol_server_port", &get_addr<true, true>},
    };
}

}  // namespace http
