#pragma once

#include <memory>
#include <string>
#include <vector>

#include "event/buffer.h"
#include "event/connection.h"
#include "event/listener.h"
#include "event/runtime.h"
#include "http/http.h"

namespace http {

/// The servers behind one listening socket; accepts connections for them.
class Port : public ev::ListenHandler {
  public:
    Port(const HttpMainConf& main, core::Listening* listening)
        : main_(main), listening_(listening) {}

    core::Status add_server(const ServerBlock* srv, bool is_default, const std::string& where);
    void on_accept(int fd, const core::SockAddr& peer) override;

    core::Listening* listening() const { return listening_; }
    const HttpMainConf& main() const { return main_; }
    /// The server for a Host value (exact name match, then the default server).
    const ServerBlock* find_server(std::string_view host) const;

  private:
    const HttpMainConf& main_;
    core::Listening* listening_;
    std::vector<const ServerBlock*> servers_;
    const ServerBlock* default_ = nullptr;
    bool explicit_default_ = false;
};

/// One client connection: reads requests, runs them through the phase engine, writes the
/// responses, keeps the connection alive between requests.
class Session : public ev::ConnectionHandler, public ev::Idle {
  public:
    Session(const Port& port, int fd, const core::SockAddr& peer);
    ~Session() override;

    void on_readable() override;
    void on_drained() override;
    void on_timeout() override;
    void on_error() override;
    void close_idle() override { close(); }
    /// Drops the connection (the request gets no response).
    void abort() { close(); }

    /// Queues response bytes for the current request.
    void write(std::string_view data);
    /// The current request has its whole response queued.
    void response_done();
    void run_phases();
    /// Finds the location for the request's path (the find_config phase).
    void find_config();
    const Port& port() const { return port_; }

  private:
    enum class State { kReadingHead, kDiscardingBody, kRunning, kWriting, kKeepalive, kClosed };

    void process_input();
    void start_request();
    void finish_request();
    void close();
    bool read_more(size_t max_total);
    bool worth_parsing(size_t max_line, size_t max_head);

    const Port& port_;
    ev::Connection conn_;
    ev::Buffer in_;
    State state_ = State::kReadingHead;
    std::unique_ptr<Request> req_;
    uint64_t body_left_ = 0;
    int requests_ = 0;
    size_t head_len_ = 0;
    size_t scanned_ = 0;  // bytes of in_ already searched for a line end
    bool close_after_ = false;
    bool in_process_ = false;  // process_input() is on the stack
};

}  // namespace http
