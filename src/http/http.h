#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/net.h"

namespace http {

class Session;
struct Request;

/// Request processing phases, in order (nginx's). find_config is run by the core only.
enum class Phase {
    kPostRead,
    kServerRewrite,
    kFindConfig,
    kRewrite,
    kPreAccess,
    kAccess,
    kContent,
    kLog,
};
inline constexpr int kPhaseCount = 8;

/// What a phase handler tells the engine.
enum class Flow {
    kDeclined,  // not mine: run the next handler of this phase
    kNext,      // this phase is done: go to the next phase
    kDone,      // the response has been produced (or the request finalized)
    kSuspend,   // waiting for I/O; the handler resumes the request with Request::resume()
};

using PhaseHandler = Flow (*)(Request&);

/// A parsed header: views into the connection's input buffer, valid for the request.
struct Header {
    std::string_view name;
    std::string_view value;
};

struct ServerBlock;

/// One request on a connection. Views point into the connection's buffer.
struct Request {
    Session* session = nullptr;
    uint64_t connection_id = 0;
    core::SockAddr peer;

    std::string_view method;
    std::string_view target;  // as sent
    std::string_view path;    // target without the query
    std::string_view args;    // after '?'
    int http_minor = 1;       // HTTP/1.<minor>
    std::vector<Header> headers;
    std::string_view host;
    uint64_t content_length = 0;
    bool keepalive = false;

    const ServerBlock* server = nullptr;
    const core::ConfVector* loc_confs = nullptr;  // the matched location's confs
    size_t phase = 0;                             // index into the flat engine
    int status = 0;                               // response status once sent
    uint64_t bytes_sent = 0;
    std::chrono::steady_clock::time_point start;

    /// The matched location's conf of type T (module-typed access, no casts in modules).
    template <class T>
    const T& loc_conf() const {
        return core::conf_of<T>(*loc_confs);
    }
    const Header* find_header(std::string_view name) const;

    /// Sends a complete response. `location` adds a Location header (redirects).
    void send(int status, std::string_view content_type, std::string_view body,
              std::string_view location = {});
    /// Sends nginx's default page for an error or redirect status.
    void send_error(int status, std::string_view location = {});
    /// Closes the connection without a response (nginx's `return 444`).
    void abort();
    /// Continues the phase engine after a handler returned kSuspend.
    void resume();
};

/// Reason phrase for a status code ("Not Found"); empty when unknown.
std::string_view status_text(int status);

/// A server { } block: its confs and locations.
struct LocationBlock;
struct ServerBlock {
    core::ConfVector srv_confs;
    core::ConfVector loc_confs;  // server-level location confs (no location matched)
    std::vector<std::unique_ptr<LocationBlock>> locations;
    std::vector<std::string> names;  // server_name
    std::string where;
};

enum class LocationMatch { kPrefix, kExact, kPrefixNoRegex };

struct LocationBlock {
    std::string name;
    LocationMatch match = LocationMatch::kPrefix;
    core::ConfVector loc_confs;
    std::vector<std::unique_ptr<LocationBlock>> children;
    std::string where;
};

/// `http { }` main conf of the http core module: the servers, and the runtime tables built
/// from them in postconfiguration (phase engine, listening sockets).
struct HttpMainConf : core::ConfBase {
    ~HttpMainConf() override;  // Port is complete only in the module's .cc
    bool seen = false;
    core::ConfVector main_confs;  // kHttpMain level of every http module
    std::vector<std::unique_ptr<ServerBlock>> servers;
    std::vector<PhaseHandler> registered[kPhaseCount];
    struct Entry {
        Phase phase;
        PhaseHandler handler;
        size_t next;  // first entry of the next phase
    };
    std::vector<Entry> engine;
    std::vector<std::unique_ptr<class Port>> ports;
};

/// http { } / server { } / location { } directives of the core that later modules read.
struct HttpSrvConf : core::ConfBase {
    struct Listen {
        core::SockAddr addr;
        core::ListenOptions options;
        bool default_server = false;
        std::string where;
    };
    std::vector<Listen> listens;
    std::vector<std::string> names;
    std::optional<std::chrono::milliseconds> client_header_timeout;  // 60s
    std::optional<core::Size> client_header_buffer_size;             // 1k
    std::optional<int> large_header_buffers;                         // 4
    std::optional<core::Size> large_header_buffer_size;              // 8k: longest line
};
core::Status merge(const HttpSrvConf& parent, HttpSrvConf& child);

struct HttpLocConf : core::ConfBase {
    /// Where `location` blocks written inside this level go (nullptr at http level).
    std::vector<std::unique_ptr<LocationBlock>>* locations = nullptr;
    bool exact = false;  // inside `location =`: no nested locations
    std::optional<std::chrono::milliseconds> keepalive_timeout;  // 75s
    std::optional<int> keepalive_requests;                       // 1000
    std::optional<std::chrono::milliseconds> send_timeout;       // 60s
    std::optional<std::string> default_type;                     // text/plain
    std::optional<bool> server_tokens;                           // on
};
core::Status merge(const HttpLocConf& parent, HttpLocConf& child);

/// For postconfiguration hooks of http modules: registers `h` in `phase` (module-table order
/// is execution order). Fails when there is no http block.
void add_phase_handler(core::Cycle& cycle, Phase phase, PhaseHandler h);
/// The http main conf of a cycle, or nullptr when there is no http block.
HttpMainConf* http_main(core::Cycle& cycle);

}  // namespace http
