#pragma once

// The stream core: nginx's L4 server. `stream { server { listen ...; } }` accepts TCP
// connections and UDP datagrams and runs each client's session through nginx's stream phases
// (post_accept, preaccess, access, ssl, preread, content, log); the content phase hands the
// session to one module (stream_proxy's `proxy_pass`). Modules register phase handlers and
// variables as the http ones do; the core knows no particular module.
//
//   stream {
//       upstream be { server 10.0.0.1:443; }       # the upstream core, as in http
//       server {
//           listen 443;  listen 53 udp;
//           proxy_pass be;
//       }
//   }

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/net.h"
#include "event/connection.h"
#include "event/listener.h"

namespace stream {

using Millis = std::chrono::milliseconds;

/// nginx's stream phases, in order.
enum class Phase : uint8_t { kPostAccept, kPreAccess, kAccess, kSsl, kPreread, kContent, kLog };
inline constexpr size_t kPhaseCount = 7;

/// What a phase handler tells the engine.
enum class Flow : uint8_t {
    kDeclined,  // not mine: the next handler
    kNext,      // this phase is done: the first handler of the next phase
    kDone,      // the session ends now with Session::status (set it first)
    kAgain,     // preread: more client bytes are needed (then the handler runs again)
    kSuspend,   // waiting for something; the handler calls Session::resume() later
};

struct Session;
using PhaseHandler = Flow (*)(Session&);
/// The content phase of a server (`proxy_pass`, `return`): takes the session over.
using ContentHandler = void (*)(Session&);

/// State a module keeps on a session (Session::ctx).
struct SessionCtx {
    virtual ~SessionCtx() = default;
};

/// The content module's side of a session (the proxy): destroyed when the session ends.
class Content {
  public:
    virtual ~Content() = default;
    /// UDP: a later datagram of the same client (the first one is Session::preread).
    virtual void on_client_datagram(std::string_view data) {}
};

// ---- configuration ----

/// One `listen` of a stream server.
struct Listen {
    core::SockAddr addr;
    std::string unix_path;
    core::ListenOptions options;  // options.udp for `udp`
    bool ssl = false;
    bool proxy_protocol = false;
    std::string where;
};

/// The stream core's server-level conf (ConfLevel::kStreamSrv; `stream` level values are
/// inherited by servers).
struct StreamSrvConf : core::ConfBase {
    std::vector<Listen> listens;
    std::optional<core::Size> preread_buffer_size;  // 16k
    std::optional<Millis> preread_timeout;          // 30s
    std::optional<Millis> proxy_protocol_timeout;   // 30s
    std::optional<bool> tcp_nodelay;                // on
    ContentHandler content = nullptr;               // set by proxy_pass, return
    std::string content_where;                      // that directive's file:line
    std::string content_name;                       // "proxy_pass"
};
core::Status merge(const StreamSrvConf& parent, StreamSrvConf& child);

/// A `server { }` of the stream block.
struct ServerBlock {
    std::string where;
    core::ConfVector srv_confs;
    template <class T>
    const T& conf() const {
        return core::conf_of<T>(srv_confs);
    }
};

class Port;
struct VariableDef;
class ComplexValue;

/// The stream block (the stream core module's main conf, ConfLevel::kMain).
struct StreamMainConf : core::ConfBase {
    StreamMainConf();
    ~StreamMainConf() override;
    bool seen = false;
    core::ConfVector main_confs;    // ConfLevel::kStreamMain, one per module
    core::ConfVector srv_defaults;  // the stream level's kStreamSrv confs (merged into servers)
    std::vector<std::unique_ptr<ServerBlock>> servers;
    std::vector<std::unique_ptr<Port>> ports;
    std::array<std::vector<PhaseHandler>, kPhaseCount> registered;
    std::vector<PhaseHandler> log_handlers;
    /// The flattened engine: handlers of every phase before content, with the index of the
    /// first handler of the next phase.
    struct Entry {
        PhaseHandler handler;
        Phase phase;
        size_t next;
    };
    std::vector<Entry> engine;
    std::vector<VariableDef> variables;
    std::vector<ComplexValue*> values;  // bound at init_cycle
};

/// The stream block of `cycle`, or nullptr when the config has none.
StreamMainConf* stream_main(core::Cycle& cycle);
/// From a module's postconfiguration: run `h` in `phase` (kLog: when the session ends).
void add_phase_handler(core::Cycle& cycle, Phase phase, PhaseHandler h);

// ---- runtime ----

/// A listening socket of the stream block and the one server that listens on it.
class Port : public ev::ListenHandler {
  public:
    Port(const ServerBlock& server, const Listen& listen, core::Listening* listening);
    const ServerBlock& server() const { return server_; }
    const Listen& listen() const { return listen_; }
    bool udp() const { return listen_.options.udp; }

    void on_accept(int fd, const core::SockAddr& peer) override;
    void on_datagrams(int fd) override;
    bool wants_nodelay() const override;

    /// UDP sessions of this worker by client address.
    void forget(const Session& s);

  private:
    friend struct Session;
    const ServerBlock& server_;
    Listen listen_;
    core::Listening* listening_;
    std::unordered_map<std::string, Session*> udp_sessions_;  // by the address's bytes
    int64_t full_logged_s_ = 0;  // the second of the last "worker_connections" alert
};

/// One client's session: a TCP connection, or the datagrams of one UDP client address (until
/// proxy_timeout, proxy_responses or proxy_requests ends it). Owned by the worker; ends with
/// finalize() (the log phase runs, then it is freed from the event loop).
struct Session : ev::ConnectionHandler {
    Session(Port& port, const core::SockAddr& peer, int fd);
    ~Session() override;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    Port& port;
    const ServerBlock& server;
    uint64_t id;
    core::SockAddr peer;  // the client (after a PROXY header: still the connection's peer)
    bool udp;
    int udp_fd = -1;  // UDP: the listening socket the client's datagrams came to
    std::unique_ptr<ev::Connection> client;  // TCP
    std::chrono::steady_clock::time_point start;
    int64_t start_wall_ms = 0;

    /// Bytes read from the client before the content phase (preread; UDP: the first
    /// datagram): the content module sends them first.
    std::string preread;
    int status = 200;
    uint64_t bytes_received = 0;  // from the client
    uint64_t bytes_sent = 0;      // to the client
    // What the content module reports for $upstream_* (comma-separated over attempts).
    std::string upstream_addr;
    std::string upstream_connect_time;
    uint64_t upstream_bytes_sent = 0;      // of the peer tried last
    uint64_t upstream_bytes_received = 0;  // of the peer tried last
    // $upstream_bytes_* of the peers tried before it ("0, 0, "): nginx lists one value per
    // peer tried, as $upstream_addr lists the peers.
    std::string upstream_bytes_sent_before;
    std::string upstream_bytes_received_before;
    /// The content module tries one more peer: `addr` joins $upstream_addr, and the byte
    /// counts of the peer before it join the lists above.
    void add_upstream_attempt(std::string_view addr) {
        if (!upstream_addr.empty()) {
            upstream_addr += ", ";
            upstream_bytes_sent_before += std::to_string(upstream_bytes_sent) + ", ";
            upstream_bytes_received_before += std::to_string(upstream_bytes_received) + ", ";
            upstream_bytes_sent = 0;
            upstream_bytes_received = 0;
        }
        upstream_addr += addr;
    }
    // PROXY protocol header of the client (listen ... proxy_protocol).
    std::string proxy_protocol_addr;
    std::string proxy_protocol_port;

    std::vector<std::unique_ptr<SessionCtx>> ctx;  // by module index
    std::unique_ptr<Content> content;

    template <class T>
    const T& srv_conf() const {
        return server.conf<T>();
    }
    /// The module's state on this session (made on first use).
    template <class T>
    T& ctx_of(int module_index) {
        auto i = static_cast<size_t>(module_index);
        if (ctx.size() <= i) {
            ctx.resize(i + 1);
        }
        if (!ctx[i]) {
            ctx[i] = std::make_unique<T>();
        }
        return static_cast<T&>(*ctx[i]);
    }
    /// The local address the client reached.
    const core::SockAddr& local();

    /// Continues the phases after a kSuspend.
    void resume();
    /// Ends the session: the log phase, then the connection (TCP) closes and the session is
    /// freed from the event loop. Idempotent.
    void finalize(int final_status);
    bool finalized() const { return finalized_; }

    /// UDP: sends a datagram to the client from the listening socket.
    bool send_datagram(std::string_view data);

    /// Starts the phases (called once by the port).
    void begin();

    // ev::ConnectionHandler, while the core reads the client (preread, PROXY header).
    void on_readable() override;
    void on_drained() override {}
    void on_timeout() override;
    void on_error() override;

  private:
    void run_phases();
    void read_preread();
    bool read_proxy_header();

    size_t engine_index_ = 0;
    bool finalized_ = false;
    bool reading_preread_ = false;
    bool reading_proxy_header_ = false;
    bool have_local_ = false;
    core::SockAddr local_;
};

/// Sessions open in this worker (for a quitting worker).
size_t active_sessions();

// ---- variables ----

/// Writes a variable's value for a session into `out`; false when it has none ("-" in logs).
using VariableGetter = bool (*)(const Session& s, std::string_view arg, std::string& out);

struct VariableDef {
    std::string_view name;  // "remote_addr", or a prefix ending in '_' with `prefix`
    VariableGetter get = nullptr;
    bool prefix = false;
    /// Without `prefix`: the `arg` passed to `get` (a module that defines variables from the
    /// config, such as map, tells them apart by it). Must outlive the cycle's bindings.
    std::string_view arg = {};
};

/// Appends `ms` milliseconds as seconds with milliseconds ("12.345"), the form of
/// $session_time, $msec and $upstream_connect_time.
void append_seconds_ms(std::string& out, int64_t ms);

/// Registers a module's variable (from its postconfiguration).
void add_variable(core::Cycle& cycle, VariableDef def);

/// A config string with $variables ("$remote_addr:$server_port"), parsed when read and bound
/// at the end of the stream block's configuration (an unknown name fails the load with the
/// directive's file:line).
class ComplexValue {
  public:
    static core::Status parse(std::string_view text, const std::string& where, ComplexValue& out);
    /// Passes a variable's value into a line (an access log's escaping).
    using Escape = void (*)(std::string_view value, std::string& out);
    /// Appends the value for `s`; a variable without a value appends `missing`. With `escape`
    /// each variable's value goes through it (the literal text does not).
    void eval(const Session& s, std::string& out, std::string_view missing = {},
              Escape escape = nullptr) const;
    std::string eval(const Session& s) const {
        std::string v;
        eval(s, v);
        return v;
    }
    bool is_literal() const { return parts_.size() <= 1 && (parts_.empty() || !parts_[0].var); }
    const std::string& text() const { return text_; }
    core::Status bind(const StreamMainConf& main);
    /// Whether the text names variables (before bind: by name).
    bool has_variables() const;

  private:
    struct Part {
        std::string literal;
        std::string name;
        std::string arg;
        const VariableDef* def = nullptr;
        bool var = false;
    };
    std::vector<Part> parts_;
    std::string text_;
    std::string where_;
};

/// Keeps `cv` (owned by a conf of the cycle) for binding once every module registered its
/// variables (call from a directive setter).
void register_complex_value(core::Cycle& cycle, ComplexValue* cv);

/// The core's variables ($remote_addr, $status, $bytes_sent, ...).
std::vector<VariableDef> core_variables();

}  // namespace stream
