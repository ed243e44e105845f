#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/conf_context.h"
#include "core/cycle.h"
#include "core/net.h"
#include "http/regex.h"
#include "http/stats.h"
#include "http/variables.h"

namespace ev {
class Connection;
enum class IoStatus;
}  // namespace ev

namespace http {

class Pacer;
class Port;
class Session;
struct Http2Start;
struct Request;

/// Request processing phases, in order (nginx's). find_config is run by the core only.
enum class Phase {
    kPostRead,
    kServerRewrite,
    kFindConfig,
    kRewrite,
    kPreAccess,
    kAccess,
    kTryFiles,  // after the access checks have let the request in (nginx's try_files phase)
    kContent,
    kLog,
};
inline constexpr int kPhaseCount = 9;

/// What a phase handler tells the engine.
enum class Flow {
    kDeclined,  // not mine: run the next handler of this phase
    kNext,      // this phase is done: go to the next phase
    kDone,      // the response has been produced (or the request finalized)
    kSuspend,   // waiting for I/O; the handler resumes the request with Request::resume()
    // Access-phase verdicts (the satisfy contract, see run_access() in phases.cc). In another
    // phase kAllow counts as kDeclined and kDeny answers the refusal at once.
    kAllow,  // this check lets the request in (nginx's NGX_OK from an access handler)
    kDeny,   // this check refuses it with Request::access_denied: use http::deny_access()
};

using PhaseHandler = Flow (*)(Request&);

/// A request body read by Request::read_body(): in memory when it fits in
/// client_body_buffer_size, else whole in a temporary file in client_body_temp_path (unlinked
/// at once, named and kept with client_body_in_file_only: see body_file.h).
struct RequestBody {
    std::string memory;
    int fd = -1;  // the temporary file, when the body did not fit in memory
    uint64_t size = 0;
    std::string path;     // the temporary file's name ($request_body_file)
    bool remove = false;  // client_body_in_file_only clean: unlinked with the body

    RequestBody() = default;
    RequestBody(const RequestBody&) = delete;
    RequestBody& operator=(const RequestBody&) = delete;
    ~RequestBody();
    bool in_file() const { return fd >= 0; }
};

/// Called once the whole body has been read. When reading fails (too large, malformed,
/// timeout, temp file error) the session answers the request itself and it is not called.
using BodyHandler = void (*)(Request&);
/// Called with each piece of a streamed request body (Request::stream_body): `data` is valid
/// for the call only; `last` comes once, with the end of the body (possibly without data).
/// It may pause the input, and it may finish the request (then it returns at once).
using BodyDataHandler = void (*)(Request&, std::string_view data, bool last);

/// A parsed header: views into the connection's input buffer, valid for the request.
struct Header {
    std::string_view name;
    std::string_view value;
};

struct ServerBlock;
struct LocationBlock;
struct HttpLocConf;
class OpenFileCache;

/// A piece of a response body going through the body filters: bytes in memory (valid for
/// the call), or `length` bytes of the open file `fd` from `offset`. Whoever receives a file
/// chunk owns `fd`: it passes the chunk on or closes the file.
struct BodyChunk {
    std::string_view data;
    int fd = -1;
    uint64_t offset = 0;
    uint64_t length = 0;
    bool last = false;  // the end of the body (may come with data)

    bool is_file() const { return fd >= 0; }
    uint64_t size() const { return is_file() ? length : data.size(); }
};

/// A header filter sees (and may change) a response head before it is written: status,
/// r.out and r.out_headers. One engaged for this request adds its body filter with
/// Request::add_body_filter(). Header filters run in module-table order.
using HeaderFilter = void (*)(Request&);
/// A body filter transforms the body and hands it on with Request::next_body(next, chunk).
using BodyFilter = void (*)(Request&, const BodyChunk&, size_t next);

/// Per-request state of a module (a filter's compressor...), freed with the request and on
/// an internal redirect.
struct RequestCtx {
    virtual ~RequestCtx() = default;
    /// Kept across internal redirects (what the log needs: $upstream_status...).
    virtual bool survives_redirect() const { return false; }
};

/// What the log knows about a request's upstream attempts ($upstream_addr, $upstream_status,
/// $upstream_response_time), kept across the internal redirect of an error_page.
struct UpstreamLog : RequestCtx {
    struct Attempt {
        std::string addr;
        int status = 0;  // 0: no response
        int64_t ms = -1;
    };
    std::vector<Attempt> attempts;
    /// The upstream of the attempt in progress as nginx names it in an error log line
    /// ("http://127.0.0.1:8080/uri"); empty when none is.
    std::string current;
    /// The header fields of the last upstream response ($upstream_http_*): kept only when the
    /// configuration reads such a variable (HttpMainConf::upstream_headers_used).
    std::vector<std::pair<std::string, std::string>> headers;
    bool survives_redirect() const override { return true; }
};

/// The response head while header filters run.
struct ResponseHead {
    std::string content_type;
    std::optional<uint64_t> content_length;  // nullopt: unknown (chunked, or close to end)
    bool header_only = false;                // HEAD, 1xx, 204, 304: no body is sent
    bool upgrade = false;                    // 101: "Connection: upgrade"
    /// An upstream's X-Accel-Charset: the charset filter recodes to it (nginx's
    /// headers_out.override_charset); empty: none.
    std::string override_charset;
    /// An upstream's Location that nginx passes as it came (FastCGI, SCGI, uwsgi: no
    /// redirect rewriting), not made absolute by absolute_redirect.
    bool location_as_is = false;
};

/// One request on a connection. Views point into the connection's buffer.
struct Request {
    Session* session = nullptr;
    uint64_t connection_id = 0;
    core::SockAddr peer;

    std::string_view method;
    std::string_view target;        // as sent
    std::string_view request_line;  // as sent (of a refused request: as far as it was read)
    std::string_view path;          // target without the query
    std::string_view args;          // after '?'
    int http_minor = 1;  // HTTP/1.<minor>; 1 for HTTP/2 (which means the same to modules)
    bool http2 = false;  // the request came on an HTTP/2 stream
    std::vector<Header> headers;
    std::string uri;  // path decoded and normalized ("/a/../b%20c" -> "/b c"): nginx's $uri
    std::string_view host;
    uint64_t content_length = 0;
    bool chunked = false;          // Transfer-Encoding: chunked
    bool expect_continue = false;  // Expect: 100-continue
    bool upgrade = false;          // Connection: upgrade
    bool keepalive = false;

    const ServerBlock* server = nullptr;
    const core::ConfVector* loc_confs = nullptr;  // the matched location's confs
    size_t phase = 0;                             // index into the flat engine
    int status = 0;                               // response status once sent
    uint64_t bytes_sent = 0;                      // head and body
    uint64_t body_bytes_sent = 0;
    uint64_t request_length = 0;  // head and body as received
    std::chrono::steady_clock::time_point start;
    RequestStat stat;  // what it counts for the status page (reading, then writing)

    /// The matched location's conf of type T (module-typed access, no casts in modules).
    template <class T>
    const T& loc_conf() const {
        return core::conf_of<T>(*loc_confs);
    }
    const Header* find_header(std::string_view name) const;

    /// Sends a complete response. `location` adds a Location header (redirects).
    void send(int status, std::string_view content_type, std::string_view body,
              std::string_view location = {});
    /// Sends a head and `length` bytes of the open file `fd` from `offset` (the request owns
    /// and closes `fd`).
    void send_file(int status, std::string_view content_type, int fd, uint64_t offset,
                   uint64_t length, bool use_sendfile);
    /// Streaming: runs the header filters and queues the head (written with the first body
    /// bytes). Then send_body() until a chunk with `last`.
    void send_head(int status, std::string_view content_type,
                   std::optional<uint64_t> content_length);
    void send_body(const BodyChunk& chunk) { next_body(0, chunk); }
    /// For body filters: passes `chunk` to the body filter `next` (or the writer).
    void next_body(size_t next, const BodyChunk& chunk);
    /// For header filters: engages `f` for this request's body (after those added before).
    void add_body_filter(BodyFilter f) { body_filters.push_back(f); }
    /// Whether anything queued for the client is still unsent.
    bool output_pending() const;
    /// Whether the client is slower than the response: producers pause until `on_drained`.
    bool output_blocked() const;
    /// Bytes held in memory for the client (files not counted): producers bound it.
    size_t output_buffered() const;
    /// After send_head(): whether the body may go to the client by splice_body(), i.e. it
    /// passes unchanged (no body filter engaged) to a plain (not TLS) client socket.
    bool can_splice_body();
    /// Moves at most `max` body bytes from the plain socket of `from` to the client without
    /// copying them (splice(2)), the head first. `n`: the bytes taken (kOk; 0 while the client
    /// is behind: wait for on_drained). kAgain: `from` has nothing now; kEof; kError. The end
    /// of the body is then sent as usual (send_body with `last`, no data).
    ev::IoStatus splice_body(ev::Connection& from, size_t max, size_t& n);
    /// Called once when queued output has gone out (see output_blocked()): the producer's
    /// hook; `filter_on_drained` is that of a body filter holding back part of a chunk (a
    /// file being compressed), which runs first.
    void (*on_drained)(Request&) = nullptr;
    void (*filter_on_drained)(Request&) = nullptr;
    bool use_sendfile = true;  // the file chunk of send_file(); false: read and write
    /// The pace of the response in bytes per second (0: none), nginx's r->limit_rate: set by
    /// `set $limit_rate` or an upstream's X-Accel-Limit-Rate, else taken from limit_rate when
    /// the head is sent; nullopt until one of them decides.
    std::optional<uint64_t> limit_rate;

    /// Headers added to the response (Last-Modified, ETag, Location, add_header...).
    std::vector<std::pair<std::string, std::string>> out_headers;
    /// Trailer fields sent after a chunked body (add_trailer): filled by a body filter before
    /// the last chunk reaches the chunked framing. Not sent with HTTP/1.0 or a known length.
    std::vector<std::pair<std::string, std::string>> out_trailers;
    ResponseHead out;
    bool head_sent = false;
    std::vector<BodyFilter> body_filters;  // engaged by header filters for this request
    /// The first value of the response header `name` (case-insensitive), or nullptr.
    std::string* find_out_header(std::string_view name);
    void remove_out_header(std::string_view name);
    /// Whether a response with `status` to this request carries a body.
    bool sends_body(int status) const;
    /// Set by a handler whose 200 answer is a whole entity of known length that may be cut to
    /// byte ranges (the static module); read by the range filter, cleared by a filter that
    /// changes the entity (gzip), as nginx's r->allow_ranges.
    bool allow_ranges = false;
    /// For a header filter (nginx's filter_finalize; the range filter's 416): the answer
    /// becomes `status`'s error page. The headers collected so far stay, less Last-Modified,
    /// ETag and Accept-Ranges; the header filters run again with the new status, and the body
    /// the handler then sends is replaced by the page.
    void filter_finalize(int status) { filter_finalize_ = status; }

    /// A module's per-request state (nullptr until make_ctx<T>()).
    template <class T>
    T* ctx() const {
        for (const auto& [key, c] : ctxs_) {
            if (key == &ctx_key<T>) {
                return static_cast<T*>(c.get());
            }
        }
        return nullptr;
    }
    template <class T, class... A>
    T& make_ctx(A&&... args) {
        auto c = std::make_unique<T>(std::forward<A>(args)...);
        T& ref = *c;
        if (ctxs_.empty()) {
            ctxs_.reserve(4);  // a proxied request has two or three
        }
        ctxs_.emplace_back(&ctx_key<T>, std::move(c));
        return ref;
    }
    /// On an internal redirect. The state is retired, not destroyed: the module that caused
    /// the redirect may still be on the stack.
    void clear_ctx() {
        for (auto& c : ctxs_) {
            if (!c.second->survives_redirect()) {
                retired_.push_back(std::move(c.second));
            }
        }
        std::erase_if(ctxs_, [](const auto& c) { return c.second == nullptr; });
    }
    /// "http" or "https".
    std::string_view scheme() const;
    /// The host name of the request as nginx's $host: the Host header without its port, or
    /// the server's first name.
    std::string_view host_name() const;
    /// nginx's context of an error log line about this request: `, client: 127.0.0.1,
    /// server: name, request: "GET / HTTP/1.1"`, then `, upstream: "http://..."` while an
    /// upstream is in use, `, host: "h"` and `, referrer: "r"` when known (escaped).
    std::string log_context() const;
    /// Restarts location matching with `uri` (index files, try_files, error_page): 500 after
    /// 10 redirects, as nginx. Returns the Flow for the calling handler.
    Flow internal_redirect(std::string uri, std::string_view args);
    int redirects = 0;
    bool uri_changed = false;    // by an internal redirect or a rewrite: $uri is not the target
    bool logged = false;         // the log phase ran
    int error_status = 0;        // the status an error_page redirect answers with (0: its own)
    bool in_error_page = false;  // error_page applies once per request
    bool internal = false;       // reached by an internal redirect or a rewrite (`internal`)
    /// In a subrequest (subrequest.h): the request it runs for (nginx's r->parent); nullptr
    /// in a client's request.
    Request* parent = nullptr;
    /// $0..$9 of the last regex match (location, rewrite, if, map). Mutable: evaluating a
    /// variable may match a regex (map), which sets them as in nginx.
    mutable std::vector<std::string> captures;
    /// Values of the configuration's variables (ConfVariable::index): set by `set`, or a cache
    /// filled when a variable is first read (map).
    mutable std::vector<std::optional<std::string>> variables;
    mutable std::string request_id;  // $request_id, made on first use
    bool pipelined = false;          // $pipe: the head was read with the one before
    bool completed = false;          // $request_completion: the whole response went out
    /// Searches the location again for the current (rewritten) URI, from find_config on, as
    /// nginx's post_rewrite phase: 500 after 10 URI changes and internal redirects. Returns
    /// the Flow for the calling handler.
    Flow restart_location_search();
    const LocationBlock* location = nullptr;      // the matched location (nullptr: none)
    const LocationBlock* named_target = nullptr;  // set by a redirect to "@name"

    /// Sends nginx's default page for an error or redirect status.
    void send_error(int status, std::string_view location = {});
    /// Re-points every view of the head after it moved out of the range `old` (the session
    /// keeps the head while the input buffer takes the body).
    void rebase(std::string_view old);
    std::string head_copy;     // the head, once moved out of the input buffer
    std::string args_storage;  // args set by an internal redirect

    /// Closes the connection without a response (nginx's `return 444`).
    void abort();
    /// Called once when the client closes its side of the connection while the request runs
    /// with its body read (not while a body streams in): the handler ends the request with
    /// client_gone() (nginx's proxy_ignore_client_abort off), or lets it go on. nullptr: not
    /// watched (the request goes on until a write fails).
    void (*on_client_closed)(Request&) = nullptr;
    /// Ends the request of a client that went away: logged with status 499 when no head was
    /// sent (nginx's "client closed request"), the connection closed.
    void client_gone();
    /// Reads the whole request body (buffered; 100-continue sent when asked for), then calls
    /// `done`. Returns kSuspend: the handler's phase ends here, `done` produces the response.
    Flow read_body(BodyHandler done);
    /// Streams the body to `on_data` as it arrives instead of reading it whole first
    /// (proxy_request_buffering off). As read_body(): 100 Continue when asked for,
    /// client_max_body_size (413 once a chunked body grows past it), client_body_timeout (408);
    /// a failure answers the request (or drops the connection once a head was sent) and
    /// on_data is not called again. The first piece comes from the event loop, never from
    /// inside this call. Call it once, for a request with a body.
    void stream_body(BodyDataHandler on_data);
    /// Backpressure for a streamed body and a tunnel: the client is not read until
    /// resume_input() (reading restarts from the event loop). Its timeout stops meanwhile.
    void pause_input();
    void resume_input();
    /// The body once read_body() finished (nullptr before, or when there was none).
    std::unique_ptr<RequestBody> body;
    bool has_body() const { return chunked || content_length > 0; }

    /// After a 101 head: the connection becomes a tunnel (see Session::start_tunnel); bytes for
    /// the client go out with write_raw(); output_blocked() and on_drained pace them, and
    /// pause_input() the other way.
    void start_tunnel(void (*on_data)(Request&, std::string_view));
    void write_raw(std::string_view data);
    /// Continues the phase engine after a handler returned kSuspend.
    void resume();
    /// The access phase (phases.cc): the status of the refusal a handler returns with kDeny
    /// (http::deny_access), and under `satisfy any` the refusal kept while the other checks
    /// run (nginx's r->access_code: a 401 stays once kept, else the last refusal's).
    int access_denied = 0;
    int access_code = 0;

  private:
    friend class Pacer;
    void absolute_location(const HttpLocConf& lc);
    /// The writer: the head with the first body bytes, then the body, to the session.
    void write_out(const BodyChunk& chunk);
    /// After the head: a response with a rate (limit_rate, $limit_rate) goes through a Pacer.
    void start_pacing(const HttpLocConf& lc);
    struct PacerDeleter {
        void operator()(Pacer* p) const;
    };
    std::unique_ptr<Pacer, PacerDeleter> pacer_;  // nullptr: not paced (the fast path)
    /// An internal redirect drops the headers collected so far, but an error_page keeps the
    /// WWW-Authenticate challenge of the 401 it replaces.
    void clear_out_headers_for_redirect();
    template <class T>
    static inline const char ctx_key = 0;
    std::vector<std::pair<const char*, std::unique_ptr<RequestCtx>>> ctxs_;
    std::vector<std::unique_ptr<RequestCtx>> retired_;
    std::string pending_head_;  // the head, waiting for the first body bytes
    int filter_finalize_ = 0;   // see filter_finalize()
    bool replacing_body_ = false;
    std::string replacement_body_;  // the error page that replaces the handler's body
};

/// For access-phase handlers: refuses the request with `status` (403; 401 with its
/// WWW-Authenticate field already in r.out_headers). Under `satisfy all` the engine answers it
/// at once; under `satisfy any` it is kept and the next check runs (see phases.cc).
inline Flow deny_access(Request& r, int status) {
    r.access_denied = status;
    return Flow::kDeny;
}

/// IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(time_t t);
/// The current time as IMF-fixdate (the Date field), made once a second.
std::string_view http_date();
/// Parses the three HTTP date forms (IMF-fixdate, RFC 850, asctime).
std::optional<time_t> parse_http_date(std::string_view s);

/// Percent-encodes what may not stand in a URI path (the URI is kept decoded in $uri).
std::string escape_uri(std::string_view uri);
/// `s` with each byte for which `escape` is true written as `prefix` and two uppercase hex
/// digits ("%2F" in a URI, "\x22" in an access log line); the other bytes as they are.
std::string escape_bytes(std::string_view s, std::string_view prefix,
                         bool (*escape)(unsigned char c));
/// As nginx escapes a value in a log line: `"`, `\` and bytes that are not printable ASCII
/// become \xHH (the access log's escape=default, and what the error log quotes).
std::string escape_log(std::string_view v);

/// nginx's internal status for a plain HTTP request on a TLS port: error_page 497 can catch
/// it; the client gets 400 "The plain HTTP request was sent to HTTPS port".
inline constexpr int kStatusPlainHttpToHttps = 497;
/// nginx's internal statuses for a client certificate that failed verification (495) and
/// for a required one not sent (496): error_page can catch them; the client gets 400.
inline constexpr int kStatusSslCertError = 495;
inline constexpr int kStatusSslNoCert = 496;

/// Reason phrase for a status code ("Not Found"); empty when unknown.
std::string_view status_text(int status);

/// A server { } block: its confs and locations.
struct LocationBlock;
struct ServerBlock {
    core::ConfVector srv_confs;
    core::ConfVector loc_confs;  // server-level location confs (no location matched)
    std::vector<std::unique_ptr<LocationBlock>> locations;
    std::vector<const LocationBlock*> named;  // location @name
    std::vector<std::string> names;           // server_name (lowercase; "~re" for regexes)
    std::vector<std::unique_ptr<Regex>> name_regexes;
    /// For each of name_regexes: its named groups as variables ($sub of `(?<sub>...)`).
    std::vector<std::vector<std::pair<const ConfVariable*, int>>> name_captures;
    std::string where;
};

/// kIf: the nameless location of an `if` block in a location (nginx's "if" location): never
/// matched by URI; its confs are merged from the enclosing location's, and the rewrite module
/// selects them when the condition holds.
/// kLimitExcept: the nameless location of a `limit_except` block, never matched by URI
/// either; find_config selects its confs for the methods the block does not list.
enum class LocationMatch { kPrefix, kExact, kPrefixNoRegex, kRegex, kNamed, kIf, kLimitExcept };

/// A request method as a bit for `limit_except` (nginx's NGX_HTTP_GET...): one bit for each
/// method limit_except knows, kMethodOther for any other.
inline constexpr uint32_t kMethodOther = 1u << 31;
uint32_t method_bit(std::string_view method);
/// The bit of a method `limit_except` accepts (case-insensitive, as nginx), or 0.
uint32_t limit_except_method(std::string_view name);

struct LocationBlock {
    std::string name;  // prefix, exact URI, regex source or @name
    LocationMatch match = LocationMatch::kPrefix;
    std::unique_ptr<Regex> regex;
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
    /// The http-level server and location confs. Kept for the cycle's life: values parsed there
    /// (add_header, error_page...) are registered for binding and shared by the levels below.
    core::ConfVector http_srv_confs;
    core::ConfVector http_loc_confs;
    std::vector<std::unique_ptr<ServerBlock>> servers;
    std::vector<PhaseHandler> registered[kPhaseCount];
    std::vector<HeaderFilter> header_filters;  // module-table order
    struct Entry {
        Phase phase;
        PhaseHandler handler;
        size_t next;  // first entry of the next phase
    };
    std::vector<Entry> engine;
    std::vector<std::unique_ptr<Port>> ports;
    std::vector<VariableDef> variables;  // built-in, then modules' (add_variable)
    /// Set by the http_v2 module in postconfiguration: whether `http2 on` holds for a server,
    /// and the start of an HTTP/2 connection, which an HTTP/1 session hands its socket to once
    /// it has read the client's connection preface. Without the module, `listen ... http2`
    /// fails the config.
    bool (*http2_enabled)(const ServerBlock& srv) = nullptr;
    void (*start_http2)(Http2Start& start) = nullptr;
    /// Set by the ssl module in postconfiguration: gives an `ssl` port its TLS side once its
    /// servers are known (certificates, SNI). Without it `listen ... ssl` fails the config.
    core::Status (*make_port_tls)(core::Cycle& cycle, Port& port) = nullptr;
    // nginx's hash sizing hints: checked as nginx checks them, no effect (listen_conf.cc).
    std::optional<uint64_t> server_names_hash_max_size;
    std::optional<uint64_t> server_names_hash_bucket_size;
    std::optional<uint64_t> variables_hash_max_size;
    std::optional<uint64_t> variables_hash_bucket_size;
    /// Set by the gzip module in postconfiguration: nginx's ngx_http_gzip_ok() for `r` (the
    /// client accepts gzip and gzip_http_version, gzip_proxied and gzip_disable allow it);
    /// `vary` tells whether gzip_vary is on. For gzip_static; nullptr without the gzip module.
    bool (*gzip_ok)(Request& r, bool& vary) = nullptr;
    /// Set by the static module: the type its `types` map gives the extension of `path` in
    /// the request's location, or "" (see content_type_of()).
    std::string_view (*type_of)(const Request& r, std::string_view path) = nullptr;
    std::vector<std::unique_ptr<ConfVariable>> conf_variables;  // set, map (declare_variable)
    std::vector<ComplexValue*> complex_values;  // bound once all variables are known
    /// Some value reads $upstream_http_*: the proxy keeps the upstream's response fields.
    bool upstream_headers_used = false;
};

/// http { } / server { } / location { } directives of the core that later modules read.
struct HttpSrvConf : core::ConfBase {
    struct Listen {
        core::SockAddr addr;
        core::ListenOptions options;
        bool default_server = false;
        bool ssl = false;             // `listen ... ssl`
        bool proxy_protocol = false;  // `listen ... proxy_protocol`
        bool http2 = false;           // `listen ... http2` (nginx before 1.25.1)
        std::string unix_path;        // `listen unix:path` (addr is AF_UNIX)
        std::string where;
    };
    std::vector<Listen> listens;
    std::vector<std::string> names;
    std::optional<std::chrono::milliseconds> client_header_timeout;  // 60s (and TLS handshake)
    std::optional<core::Size> client_header_buffer_size;             // 1k
    std::optional<int> large_header_buffers;                         // 4
    std::optional<core::Size> large_header_buffer_size;              // 8k: longest line
    std::optional<bool> merge_slashes;                               // on
    std::optional<bool> underscores_in_headers;                      // off
    std::optional<bool> ignore_invalid_headers;                      // on
};
core::Status merge(const HttpSrvConf& parent, HttpSrvConf& child);

/// `error_page 404 500 [=[code]] uri;`
struct ErrorPage {
    std::vector<int> codes;
    int override_status = -1;  // -1: keep the error's status; 0 ("="): the target's own
    ComplexValue uri;
};

/// How a location treats its client connection (listen_conf.cc sets them, session_conn.cc
/// acts on them): tcp_nopush, tcp_nodelay, sendfile_max_chunk, keepalive_time,
/// keepalive_disable, reset_timedout_connection.
struct ConnLocConf {
    std::optional<bool> tcp_nopush;                           // off
    std::optional<bool> tcp_nodelay;                          // on
    std::optional<core::Size> sendfile_max_chunk;             // 2m (0: no limit)
    std::optional<std::chrono::milliseconds> keepalive_time;  // 1h
    std::optional<unsigned> keepalive_disable;                // msie6 (kKeepaliveDisable*)
    std::optional<bool> reset_timedout_connection;            // off
    std::optional<uint64_t> types_hash_max_size;              // sizing hints: no effect
    std::optional<uint64_t> types_hash_bucket_size;
};
enum KeepaliveDisable : unsigned { kKeepaliveDisableMsie6 = 1, kKeepaliveDisableSafari = 2 };
void merge(const ConnLocConf& parent, ConnLocConf& child);

struct HttpLocConf : core::ConfBase {
    /// Where `location` blocks written inside this level go (nullptr at http level).
    std::vector<std::unique_ptr<LocationBlock>>* locations = nullptr;
    bool exact = false;  // inside `location =`: no nested locations
    bool named = false;  // inside `location @name`
    bool locations_owner_is_location = false;
    /// The location's own content handler (set by proxy_pass...): runs instead of the content
    /// phase's handlers. Not inherited by nested locations.
    PhaseHandler content = nullptr;
    std::optional<std::chrono::milliseconds> keepalive_timeout;    // 75s
    std::optional<int> keepalive_requests;                         // 1000
    std::optional<std::chrono::milliseconds> send_timeout;         // 60s
    std::optional<std::string> default_type;                       // text/plain
    std::optional<int> server_tokens;                              // ServerTokens (on)
    std::optional<bool> absolute_redirect;                         // on
    std::optional<bool> server_name_in_redirect;                   // off
    std::optional<bool> port_in_redirect;                          // on
    std::optional<core::Size> client_max_body_size;                // 1m (0: no limit)
    std::optional<core::Size> client_body_buffer_size;             // 16k
    std::optional<std::chrono::milliseconds> client_body_timeout;  // 60s
    std::optional<std::string> client_body_temp_path;              // client_body_temp
    std::optional<std::vector<int>> client_body_temp_levels;       // none
    std::optional<int> client_body_in_file_only;                   // BodyInFile (off)
    std::optional<int> lingering_close;                            // off|on|always (on)
    std::optional<std::chrono::milliseconds> lingering_time;       // 30s
    std::optional<std::chrono::milliseconds> lingering_timeout;    // 5s
    ConnLocConf conn;  // tcp_nopush ... (listen_conf.cc)
    // Shared with the levels that inherit them (values are bound once, by address).
    std::shared_ptr<std::vector<std::unique_ptr<ErrorPage>>> error_pages;
    /// `error_log` of this level (several lines add up), else the enclosing level's; nullptr:
    /// the main error log. See http/error_log.h.
    std::shared_ptr<core::Log> error_log;
    // Request-level directives (core_request.cc; defaults in merge_request).
    bool internal = false;                      // internal: nested locations inherit it, as nginx
    std::optional<bool> log_not_found;          // on
    std::optional<bool> log_subrequest;         // off (subrequests are not logged)
    std::optional<bool> recursive_error_pages;  // off
    std::optional<int> max_ranges;              // unlimited; 0: no byte ranges
    std::optional<int> if_modified_since;       // IfModifiedSince (exact)
    std::optional<bool> chunked_transfer_encoding;   // on
    std::optional<bool> msie_padding;                // on
    std::optional<bool> msie_refresh;                // off
    std::shared_ptr<OpenFileCache> open_file_cache;  // nullptr: off
    bool open_file_cache_off = false;
    std::optional<std::chrono::milliseconds> open_file_cache_valid;  // 60s
    std::optional<int> open_file_cache_min_uses;                     // 1
    std::optional<bool> open_file_cache_errors;                      // off
    std::optional<bool> client_body_in_single_buffer;                // off (always one)
    std::optional<core::Size> directio_alignment;                    // 512
    std::optional<SizeValue> limit_rate;                             // 0: responses not paced
    std::optional<SizeValue> limit_rate_after;                       // 0
    // Access (phases.cc).
    std::optional<bool> satisfy_any;                      // satisfy all|any (all)
    std::optional<std::chrono::milliseconds> auth_delay;  // 0s: a 401 is answered at once
    /// `limit_except`: the methods its block applies to (those it does not list, as bits of
    /// method_bit()), and the block's confs; 0 / nullptr: none. Not inherited, as nginx.
    uint32_t limit_except = 0;
    const core::ConfVector* limit_except_confs = nullptr;
};
enum ServerTokens { kServerTokensOff = 0, kServerTokensOn = 1, kServerTokensBuild = 2 };
enum IfModifiedSince { kImsOff = 0, kImsExact = 1, kImsBefore = 2 };
enum BodyInFile { kBodyInFileOff = 0, kBodyInFileOn = 1, kBodyInFileClean = 2 };
enum LingeringClose { kLingeringOff = 0, kLingeringOn = 1, kLingeringAlways = 2 };

core::Status merge(const HttpLocConf& parent, HttpLocConf& child);

/// For postconfiguration hooks of http modules: registers `h` in `phase` (module-table order
/// is execution order). Fails when there is no http block.
void add_phase_handler(core::Cycle& cycle, Phase phase, PhaseHandler h);
/// For postconfiguration hooks of http filter modules: adds a header filter (module-table
/// order is execution order; the core's framing runs after all of them).
void add_header_filter(core::Cycle& cycle, HeaderFilter f);

/// A phase handler an http module declares as data, for register_phase_handlers.
struct PhaseHandlerEntry {
    Phase phase;
    PhaseHandler handler;
};

/// The postconfiguration hook of an http module that only registers phase handlers: adds
/// each of `Entries` (a constexpr array of PhaseHandlerEntry) in order, e.g.
/// `.postconfiguration = &http::register_phase_handlers<kPhaseHandlers>`.
template <const auto& Entries>
core::Status register_phase_handlers(core::Cycle& cycle) {
    for (const PhaseHandlerEntry& e : Entries) {
        add_phase_handler(cycle, e.phase, e.handler);
    }
    return core::Status::ok();
}

/// The postconfiguration hook of an http filter module that only adds header filter `F`:
/// `.postconfiguration = &http::register_header_filter<&header_filter>`.
template <HeaderFilter F>
core::Status register_header_filter(core::Cycle& cycle) {
    add_header_filter(cycle, F);
    return core::Status::ok();
}

/// For the rewrite module's `if` in a location: adds a nameless location (LocationMatch::kIf)
/// inside the current one and returns it, for the `if` block's directives to be applied to
/// its confs. nullptr when the current block cannot hold locations.
LocationBlock* add_if_location(core::ConfContext& cf);
/// Calls `fn` with the location-level confs of every server and location (nested too).
void for_each_location_confs(HttpMainConf& main, const std::function<void(core::ConfVector&)>& fn);
/// Creates a folder for temporary files (owned by the worker user), as nginx does at start.
core::Status make_temp_dir(core::Cycle& cycle, const std::string& dir);
/// An unnamed temporary file in `dir` (O_TMPFILE, else created and unlinked); -1 on error.
int open_temp_file(const std::string& dir);
/// nginx's Content-Type of a response the server makes itself (`return code text`): the type
/// of the URI's extension in `types`, else default_type.
std::string_view content_type_of(const Request& r);
/// The http main conf of a cycle, or nullptr when there is no http block.
HttpMainConf* http_main(core::Cycle& cycle);

}  // namespace http
