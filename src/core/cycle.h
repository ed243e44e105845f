#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/conf_context.h"
#include "core/conf_file.h"
#include "core/log.h"
#include "core/net.h"
#include "core/shm.h"
#include "core/status.h"

namespace ev {
class ListenHandler;
}

namespace core {

/// How halo was asked to load its config (command line).
struct CycleOptions {
    std::string prefix;       // ends with '/'
    std::string conf_file;    // absolute path
    std::string conf_params;  // -g 'directives;'
    std::string error_log;    // -e: default error log ("stderr" or a path); empty = built-in
    bool test_only = false;   // -t/-T: no sockets, no shared memory
};

/// Options of a listening socket (nginx's listen parameters). Only one `listen` per address
/// may give them (`set`); the others share that socket as it is.
struct ListenOptions {
    int backlog = 511;
    bool reuseport = false;
    bool set = false;       // a socket parameter was given (nginx: lsopt.set)
    bool bind = false;      // its own socket even when a wildcard listens on the port
    bool deferred = false;  // TCP_DEFER_ACCEPT for `defer_seconds`
    int defer_seconds = 60;
    std::optional<bool> ipv6only;  // IPV6_V6ONLY (on unless ipv6only=off)
    std::optional<int> rcvbuf;
    std::optional<int> sndbuf;
    std::optional<int> fastopen;       // TCP_FASTOPEN queue length
    std::optional<bool> so_keepalive;  // SO_KEEPALIVE on the accepted sockets
    std::optional<int> keepidle;       // TCP_KEEPIDLE, s
    std::optional<int> keepintvl;      // TCP_KEEPINTVL, s
    std::optional<int> keepcnt;        // TCP_KEEPCNT
    /// `listen ... udp` (stream): a datagram socket (SOCK_DGRAM, no listen()); part of the
    /// socket's identity, as in nginx (a TCP and a UDP socket may share an address).
    bool udp = false;
    /// Whether an accepted connection needs the socket forced into its own listener: any
    /// parameter nginx binds separately for (everything but default_server, ssl,
    /// proxy_protocol).
    bool needs_bind() const { return set; }
};

/// Sets the options of `o` that can change on a bound socket (buffers, keepalive, deferred
/// accept, fast open); logs what fails. For a new socket and for one taken over on reload.
void configure_listen_socket(int fd, const SockAddr& addr, const ListenOptions& o);

/// One socket parameter of `listen` (http and stream alike): bind, reuseport, deferred,
/// backlog=, rcvbuf=, sndbuf=, fastopen=, ipv6only=, so_keepalive=. Returns 1 when `arg` was
/// one of them (set in `o`, with o.set), 0 when it is another parameter, -1 when its value is
/// invalid (`error` is nginx's message, e.g. `invalid backlog "x"`).
int parse_listen_socket_param(std::string_view arg, ListenOptions& o, std::string& error);

/// A listening socket of the cycle. With reuseport there is one socket per worker. Owned by
/// the cycle and handed to the next cycle on reload when the address matches, so that no
/// connection is refused while workers change.
struct Listening {
    SockAddr addr;
    std::string unix_path;  // `listen unix:path`: addr is AF_UNIX, the path is here
    ListenOptions options;
    std::string where;  // file:line of the first listen directive for it
    std::vector<int> fds;
    /// The protocol module's acceptor (set in postconfiguration).
    ev::ListenHandler* handler = nullptr;

    Listening() = default;
    Listening(const Listening&) = delete;
    Listening& operator=(const Listening&) = delete;
    ~Listening();
    /// The socket worker `worker` accepts on.
    int fd_for_worker(int worker) const {
        return options.reuseport ? fds[static_cast<size_t>(worker) % fds.size()] : fds[0];
    }
};

struct ProcessTable;
/// Called with the master's process table (see core::ProcessTable), in the master.
using ProcessObserver = std::function<void(const ProcessTable&)>;

/// A dedicated child process a module asks for (the VRRP and health-check helpers). The
/// master spawns one per spec and respawns it when it dies abnormally.
struct HelperSpec {
    std::string name;
    /// Runs in the child; returns the exit status. It starts with the master's signals
    /// blocked and calls core::unblock_signals() once it watches them (until then a signal
    /// waits, and never takes its default action).
    int (*run)(class Cycle&, const ProcessInfo&) = nullptr;
    /// Switch to `user` (and worker_rlimit_nofile) before `run`, as workers do: for helpers
    /// that need no privilege (the health checker). The VRRP helper keeps root.
    bool drop_privileges = false;
    /// Stop order: on a stop (SIGTERM/SIGINT/SIGQUIT to the master, `-s stop|quit`) the
    /// master signals the helpers that set this first and the workers and other helpers only
    /// once those have exited, or after `stop_first_wait`, whichever comes first (a stop never
    /// hangs). The VRRP helper uses it to hand its virtual IPs over while the workers still
    /// serve them. Reloads are not affected.
    bool stop_first = false;
    std::chrono::milliseconds stop_first_wait{0};
};

/// Everything built from one config: module confs, listening sockets, shared zones, open
/// files, helper processes. Immutable once created (modules finish their own runtime tables
/// in postconfiguration). A reload builds a new Cycle from the old one; on any error the new
/// one is discarded and the old one keeps serving.
class Cycle {
  public:
    /// Builds a cycle. `old` (may be nullptr) lends listening sockets and shared zones.
    static Status create(const CycleOptions& options, const ModuleRegistry& registry, Cycle* old,
                         std::unique_ptr<Cycle>& out);
    ~Cycle();

    const CycleOptions& options() const { return options_; }
    const ModuleRegistry& registry() const { return registry_; }
    const ConfDocument& document() const { return doc_; }
    ConfVector& main_confs() { return main_confs_; }
    template <class T>
    T& conf() const {
        return conf_of<T>(main_confs_);
    }

    /// Resolves a path against the prefix (absolute paths are kept).
    std::string full_path(std::string_view path) const;
    /// The config folder: base of includes and relative conf paths.
    const std::string& conf_dir() const { return conf_dir_; }

    /// Registers a file to be opened with the cycle (deduplicated by path).
    std::shared_ptr<OpenFile> open_file(const std::string& path);
    const std::vector<std::shared_ptr<OpenFile>>& files() const { return files_; }
    /// Reopens every file (USR1) after running the before_reopen hooks (buffered writers flush
    /// into the old file); errors are logged, old descriptors kept.
    void reopen_files(uid_t owner);
    /// Process-local hooks run before a reopen (e.g. access_log buffer= flushes).
    std::vector<std::function<void()>> before_reopen;

    /// Registers a listening address (one socket per address; a second listen on the same
    /// address shares it). `err` is set when options conflict.
    /// A UDP socket (options.udp) is a different one from a TCP socket on the same address.
    Listening* add_listening(const SockAddr& addr, const ListenOptions& options,
                             const std::string& where, Status& err,
                             const std::string& unix_path = {});
    std::vector<std::unique_ptr<Listening>>& listening() { return listening_; }

    /// Registers a shared zone; a second zone of the same name is an error, and so is a size
    /// beyond what this machine could ever give (its RAM and swap together).
    ShmZone* add_shm_zone(const std::string& name, size_t size, const void* tag,
                          const std::string& where, Status& err);
    ShmZone* find_shm_zone(const std::string& name);
    const std::vector<std::unique_ptr<ShmZone>>& shm_zones() const { return shm_zones_; }

    void add_helper(HelperSpec spec) { helpers_.push_back(std::move(spec)); }
    const std::vector<HelperSpec>& helpers() const { return helpers_; }

    /// For modules that show the processes (the status page): `f` runs in the master each time
    /// its process table changes (children started, exited, respawned, told to exit), while
    /// this cycle is the current one; in a single process, once before serving.
    void add_process_observer(ProcessObserver f) { process_observers_.push_back(std::move(f)); }
    const std::vector<ProcessObserver>& process_observers() const { return process_observers_; }

    /// Per-cycle objects that a layer keeps (the upstream layer's group registry) or that a
    /// module publishes for others to find without linking it (the vrrp module's status
    /// reader): one T per cycle, made on first use, destroyed with the cycle.
    template <class T>
    T& attachment() {
        for (const Attachment& a : attachments_) {
            if (a.tag == &AttachmentTag<T>::tag) {
                return *static_cast<T*>(a.object.get());
            }
        }
        auto object = std::make_shared<T>();
        T& ref = *object;
        attachments_.push_back(Attachment{&AttachmentTag<T>::tag, std::move(object)});
        return ref;
    }
    /// The T attached to this cycle, or nullptr when nobody attached one.
    template <class T>
    const T* find_attachment() const {
        for (const Attachment& a : attachments_) {
            if (a.tag == &AttachmentTag<T>::tag) {
                return static_cast<const T*>(a.object.get());
            }
        }
        return nullptr;
    }

    const Log& log() const { return log_; }
    int worker_count() const;

    /// Closes every listening socket in this process (a worker that stops accepting).
    void close_listening();

    /// `halo -t`: maps every shared zone as a start would (and unmaps it at once), so that a
    /// zone the system cannot give fails the test rather than the start (nginx -t does the
    /// same). Error: `mmap(...) failed (12: Cannot allocate memory) for zone "u" in file:line`.
    Status try_shm() const;

  private:
    Cycle(const CycleOptions& options, const ModuleRegistry& registry);
    Status load();
    Status open_files();
    Status init_shm(Cycle* old);
    Status open_listening(Cycle* old);

    CycleOptions options_;
    const ModuleRegistry& registry_;
    std::string conf_dir_;
    ConfDocument doc_;
    ConfVector main_confs_;
    Log log_;
    std::vector<std::shared_ptr<OpenFile>> files_;
    std::vector<std::unique_ptr<Listening>> listening_;
    std::vector<std::unique_ptr<ShmZone>> shm_zones_;
    std::vector<HelperSpec> helpers_;
    std::vector<ProcessObserver> process_observers_;

    template <class T>
    struct AttachmentTag {
        static inline const char tag = 0;
    };
    struct Attachment {
        const void* tag;
        std::shared_ptr<void> object;
    };
    std::vector<Attachment> attachments_;
};

}  // namespace core
