// The cluster view without I/O: peer URLs, a JSON reader for the peers' pages, each node's
// view, the comparison (split-brain, an upstream server seen differently) and its JSON.
#include "modules/status/cluster.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace mod::status {

// ---- peer URLs ----

std::optional<PeerUrl> parse_peer_url(std::string_view text, std::string& err) {
    constexpr std::string_view kScheme = "http://";
    if (text.substr(0, kScheme.size()) != kScheme) {
        err = "invalid URL prefix";  // nginx's word for it (https is not fetched)
        return std::nullopt;
    }
    std::string_view rest = text.substr(kScheme.size());
    size_t slash = rest.find_first_of("/?");
    std::string_view hostport = rest.substr(0, slash);
    PeerUrl u;
    u.text = std::string(text);
    u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (u.path[0] == '?') {
        u.path.insert(0, "/");
    }
    if (hostport.empty()) {
        err = "no host";
        return std::nullopt;
    }
    u.host = std::string(hostport);
    std::string host(hostport);
    uint16_t port = 80;
    size_t colon = hostport.rfind(':');
    size_t bracket = hostport.rfind(']');
    if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
        std::string_view p = hostport.substr(colon + 1);
        char* end = nullptr;
        std::string ps(p);
        long v = strtol(ps.c_str(), &end, 10);
        if (ps.empty() || *end != '\0' || v < 1 || v > 65535) {
            err = "invalid port";
            return std::nullopt;
        }
        port = static_cast<uint16_t>(v);
        host = std::string(hostport.substr(0, colon));
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (auto a = core::SockAddr::from_ip(host, port)) {
        u.addr = *a;
        return u;
    }
    std::vector<core::SockAddr> found;
    if (!core::resolve_host(host, port, found) || found.empty()) {
        err = "host not found";
        return std::nullopt;
    }
    u.addr = found[0];
    return u;
}

std::string peer_request(const PeerUrl& url) {
    std::string path = url.path;
    path += path.find('?') == std::string::npos ? "?" : "&";
    path += "format=json&peers=off";
    return "GET " + path + " HTTP/1.0\r\nHost: " + url.host +
           "\r\nUser-Agent: halo-status-peers\r\nAccept: application/json\r\n\r\n";
}

// ---- JSON ----

namespace {

const JsonValue kNull;

class Reader {
  public:
    explicit Reader(std::string_view s) : s_(s) {}
    bool document(JsonValue& v) {
        if (!value(v, 0)) {
            return false;
        }
        space();
        return i_ == s_.size();
    }

  private:
    void space() {
        while (i_ < s_.size() &&
               (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) {
            i_++;
        }
    }
    bool word(std::string_view w) {
        if (s_.substr(i_, w.size()) != w) {
            return false;
        }
        i_ += w.size();
        return true;
    }
    static void utf8(std::string& out, uint32_t c) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    bool hex4(uint32_t& c) {
        if (i_ + 4 > s_.size()) {
            return false;
        }
        c = 0;
        for (int k = 0; k < 4; k++) {
            char h = s_[i_++];
            c <<= 4;
            if (h >= '0' && h <= '9') {
                c |= static_cast<uint32_t>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                c |= static_cast<uint32_t>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
                c |= static_cast<uint32_t>(h - 'A' + 10);
            } else {
                return false;
            }
        }
        return true;
    }
    bool string(std::string& out) {
        i_++;  // the opening quote
        while (i_ < s_.size()) {
            char c = s_[i_++];
            if (c == '"') {
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return false;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size()) {
                return false;
            }
            char e = s_[i_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out += e;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    uint32_t c1 = 0;
                    if (!hex4(c1)) {
                        return false;
                    }
                    if (c1 >= 0xD800 && c1 < 0xDC00 && word("\\u")) {
                        uint32_t c2 = 0;
                        if (!hex4(c2) || c2 < 0xDC00 || c2 > 0xDFFF) {
                            return false;
                        }
                        c1 = 0x10000 + ((c1 - 0xD800) << 10) + (c2 - 0xDC00);
                    }
                    utf8(out, c1);
                    break;
                }
                default:
                    return false;
            }
        }
        return false;
    }
    bool number(double& out) {
        size_t start = i_;
        if (i_ < s_.size() && s_[i_] == '-') {
            i_++;
        }
        while (i_ < s_.size() &&
               (isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' || s_[i_] == 'e' ||
                s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-')) {
            i_++;
        }
        std::string text(s_.substr(start, i_ - start));
        char* end = nullptr;
        out = strtod(text.c_str(), &end);
        return !text.empty() && *end == '\0' && std::isfinite(out);
    }
    bool value(JsonValue& v, int depth) {
        if (depth > 64) {
            return false;
        }
        space();
        if (i_ >= s_.size()) {
            return false;
        }
        char c = s_[i_];
        if (c == '{') {
            v.type = JsonValue::Type::kObject;
            i_++;
            space();
            if (i_ < s_.size() && s_[i_] == '}') {
                i_++;
                return true;
            }
            for (;;) {
                space();
                if (i_ >= s_.size() || s_[i_] != '"') {
                    return false;
                }
                std::pair<std::string, JsonValue> m;
                if (!string(m.first)) {
                    return false;
                }
                space();
                if (!word(":") || !value(m.second, depth + 1)) {
                    return false;
                }
                v.members.push_back(std::move(m));
                space();
                if (word("}")) {
                    return true;
                }
                if (!word(",")) {
                    return false;
                }
            }
        }
        if (c == '[') {
            v.type = JsonValue::Type::kArray;
            i_++;
            space();
            if (word("]")) {
                return true;
            }
            for (;;) {
                JsonValue item;
                if (!value(item, depth + 1)) {
                    return false;
                }
                v.items.push_back(std::move(item));
                space();
                if (word("]")) {
                    return true;
                }
                if (!word(",")) {
                    return false;
                }
            }
        }
        if (c == '"') {
            v.type = JsonValue::Type::kString;
            return string(v.string);
        }
        if (word("true") || word("false")) {
            v.type = JsonValue::Type::kBool;
            v.boolean = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u';
            return true;
        }
        if (word("null")) {
            return true;
        }
        v.type = JsonValue::Type::kNumber;
        return number(v.number);
    }

    std::string_view s_;
    size_t i_ = 0;
};

}  // namespace

const JsonValue& JsonValue::operator[](std::string_view key) const {
    for (const auto& [k, v] : members) {
        if (k == key) {
            return v;
        }
    }
    return kNull;
}

std::optional<JsonValue> parse_json(std::string_view text) {
    JsonValue v;
    if (!Reader(text).document(v)) {
        return std::nullopt;
    }
    return v;
}

void write_json(std::string& out, const JsonValue& v) {
    switch (v.type) {
        case JsonValue::Type::kNull:
            out += "null";
            return;
        case JsonValue::Type::kBool:
            out += v.boolean ? "true" : "false";
            return;
        case JsonValue::Type::kNumber: {
            char buf[40];
            if (std::trunc(v.number) == v.number && std::fabs(v.number) < 9e15) {
                snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v.number));
            } else {
                snprintf(buf, sizeof(buf), "%.17g", v.number);
            }
            out += buf;
            return;
        }
        case JsonValue::Type::kString:
            append_json_string(out, v.string);
            return;
        case JsonValue::Type::kArray:
            out += '[';
            for (size_t i = 0; i < v.items.size(); i++) {
                out += i > 0 ? "," : "";
                write_json(out, v.items[i]);
            }
            out += ']';
            return;
        case JsonValue::Type::kObject:
            out += '{';
            for (size_t i = 0; i < v.members.size(); i++) {
                out += i > 0 ? "," : "";
                append_json_string(out, v.members[i].first);
                out += ':';
                write_json(out, v.members[i].second);
            }
            out += '}';
            return;
    }
}

// ---- the nodes ----

bool node_from_page(const JsonValue& page, NodeView& out) {
    if (page.type != JsonValue::Type::kObject || page["vrrp"].type != JsonValue::Type::kArray ||
        page["upstreams"].type != JsonValue::Type::kArray) {
        out.error = "not a halo status page";
        return false;
    }
    out.node = page["node"].str();
    out.fetched_ms = page["time"].integer();
    for (const JsonValue& i : page["vrrp"].items) {
        VrrpView v;
        v.name = i["name"].str();
        v.state = i["state"].str();
        v.interface = i["interface"].str();
        v.vrid = static_cast<int>(i["vrid"].integer());
        v.priority = static_cast<int>(i["priority"].integer());
        v.base_priority = static_cast<int>(i["base_priority"].integer());
        v.master = i["master"].str();
        v.addresses_up = i["addresses_up"].boolean;
        v.tracker = i["tracker"].str();
        for (const JsonValue& f : i["failing"].items) {
            v.failing.push_back(f.str());
        }
        for (const JsonValue& a : i["addresses"].items) {
            v.addresses.push_back(a.str());
        }
        v.last_change_ms = i["last_change"].integer();
        out.vrrp.push_back(std::move(v));
    }
    for (const JsonValue& u : page["upstreams"].items) {
        for (const JsonValue& p : u["peers"].items) {
            out.upstreams.push_back({u["name"].str(), u["block"].str(), p["server"].str(),
                                     p["state"].str(), p["down_reason"].str()});
        }
    }
    // The anycast module's member: an empty list is a node without an anycast block.
    const JsonValue& anycast = page["anycast"];
    if (anycast.type != JsonValue::Type::kNull &&
        !(anycast.type == JsonValue::Type::kArray && anycast.items.empty())) {
        write_json(out.anycast, page["anycast"]);
    }
    out.reachable = true;
    return true;
}

NodeView node_from_snapshot(const Snapshot& s, const std::string& node) {
    // Through its own JSON, so that this node is read as its peers read it (members other
    // modules add to the page, such as `anycast`, included).
    Snapshot alone = s;
    alone.cluster_json.clear();
    NodeView n;
    auto page = parse_json(render_json(alone));
    if (page) {
        node_from_page(*page, n);
    }
    n.node = node;
    n.self = true;
    n.reachable = true;
    n.error.clear();
    return n;
}

void analyse(ClusterView& view) {
    std::map<int, std::vector<std::string>> masters;  // vrid -> nodes
    std::map<std::tuple<std::string, std::string, std::string>,
             std::vector<std::pair<std::string, std::string>>>
        servers;
    std::set<std::string> names;
    for (NodeView& n : view.nodes) {
        if (!n.reachable) {
            continue;
        }
        // Two entries of one name (a node listed among its own peers, or nodes left with the
        // host name they share) would compare a node with itself: the later one is left out.
        if (!names.insert(n.node).second) {
            n.reachable = false;
            n.error = "node_name \"" + n.node +
                      "\" is in the view already (this node itself, or give each node its own "
                      "node_name)";
            continue;
        }
        for (const VrrpView& v : n.vrrp) {
            auto& m = masters[v.vrid];
            if (v.state == "MASTER") {
                m.push_back(n.node);
            }
            if (v.state == "FAULT") {
                view.faults.emplace_back(n.node, v.name);
            }
        }
        for (const ClusterPeerState& p : n.upstreams) {
            servers[{p.block, p.upstream, p.server}].emplace_back(n.node, p.state);
        }
    }
    for (auto& [vrid, nodes] : masters) {
        if (nodes.size() > 1) {
            view.split_brain.push_back({vrid, nodes});
        } else if (nodes.empty()) {
            view.no_master.push_back(vrid);
        }
    }
    for (auto& [key, states] : servers) {
        std::set<std::string> seen;
        for (const auto& s : states) {
            seen.insert(s.second);
        }
        if (seen.size() > 1) {
            view.disagreements.push_back(
                {std::get<1>(key), std::get<0>(key), std::get<2>(key), states});
        }
    }
}

// ---- JSON of the view ----

namespace {

void str_member(std::string& out, std::string_view key, std::string_view value) {
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
}

void strings(std::string& out, const std::vector<std::string>& v) {
    out += '[';
    for (size_t i = 0; i < v.size(); i++) {
        out += i > 0 ? "," : "";
        append_json_string(out, v[i]);
    }
    out += ']';
}

void node_json(std::string& out, const NodeView& n) {
    out += '{';
    str_member(out, "node", n.node);
    out += ",\"url\":";
    if (n.self) {
        out += "null";
    } else {
        append_json_string(out, n.url);
    }
    out += ",\"self\":";
    out += n.self ? "true" : "false";
    out += ",\"reachable\":";
    out += n.reachable ? "true" : "false";
    out += ",\"error\":";
    if (n.error.empty()) {
        out += "null";
    } else {
        append_json_string(out, n.error);
    }
    out += ",\"time\":" + std::to_string(n.fetched_ms);
    out += ",\"vrrp\":[";
    for (size_t i = 0; i < n.vrrp.size(); i++) {
        const VrrpView& v = n.vrrp[i];
        out += i > 0 ? ",{" : "{";
        str_member(out, "name", v.name);
        out += ',';
        str_member(out, "state", v.state);
        out += ",\"vrid\":" + std::to_string(v.vrid);
        out += ",\"priority\":" + std::to_string(v.priority);
        out += ",\"base_priority\":" + std::to_string(v.base_priority);
        out += ',';
        str_member(out, "master", v.master);
        out += ",\"tracker\":";
        if (v.tracker.empty()) {
            out += "null";
        } else {
            append_json_string(out, v.tracker);
        }
        out += ",\"failing\":";
        strings(out, v.failing);
        out += ",\"addresses\":";
        strings(out, v.addresses);
        out += ",\"addresses_up\":";
        out += v.addresses_up ? "true" : "false";
        out += '}';
    }
    out += "],\"anycast\":";
    out += n.anycast.empty() ? "null" : n.anycast;
    out += ",\"upstreams\":[";
    for (size_t i = 0; i < n.upstreams.size(); i++) {
        const ClusterPeerState& p = n.upstreams[i];
        out += i > 0 ? ",{" : "{";
        str_member(out, "upstream", p.upstream);
        out += ',';
        str_member(out, "block", p.block);
        out += ',';
        str_member(out, "server", p.server);
        out += ',';
        str_member(out, "state", p.state);
        out += ",\"down_reason\":";
        if (p.down_reason.empty()) {
            out += "null";
        } else {
            append_json_string(out, p.down_reason);
        }
        out += '}';
    }
    out += "]}";
}

}  // namespace

void cluster_json(std::string& out, const ClusterView& view) {
    out += "{\"nodes\":[";
    for (size_t i = 0; i < view.nodes.size(); i++) {
        out += i > 0 ? "," : "";
        node_json(out, view.nodes[i]);
    }
    out += "],\"split_brain\":[";
    for (size_t i = 0; i < view.split_brain.size(); i++) {
        out += i > 0 ? "," : "";
        out += "{\"vrid\":" + std::to_string(view.split_brain[i].vrid) + ",\"masters\":";
        strings(out, view.split_brain[i].masters);
        out += '}';
    }
    out += "],\"no_master\":[";
    for (size_t i = 0; i < view.no_master.size(); i++) {
        out += (i > 0 ? "," : "") + std::to_string(view.no_master[i]);
    }
    out += "],\"faults\":[";
    for (size_t i = 0; i < view.faults.size(); i++) {
        out += i > 0 ? ",{" : "{";
        str_member(out, "node", view.faults[i].first);
        out += ',';
        str_member(out, "instance", view.faults[i].second);
        out += '}';
    }
    out += "],\"disagreements\":[";
    for (size_t i = 0; i < view.disagreements.size(); i++) {
        const Disagreement& d = view.disagreements[i];
        out += i > 0 ? ",{" : "{";
        str_member(out, "upstream", d.upstream);
        out += ',';
        str_member(out, "block", d.block);
        out += ',';
        str_member(out, "server", d.server);
        out += ",\"states\":{";
        for (size_t k = 0; k < d.states.size(); k++) {
            out += k > 0 ? "," : "";
            str_member(out, d.states[k].first, d.states[k].second);
        }
        out += "}}";
    }
    out += "]}";
}

std::string default_node_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
        return "localhost";
    }
    return buf;
}

}  // namespace mod::status
