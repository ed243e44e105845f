#pragma once

// A tiny DNS server for resolver tests: answers A and AAAA questions over UDP on a loopback
// port of the test process (one thread), from records the test sets. Never real DNS. Names it
// does not know get NXDOMAIN; a name can be made to answer with another code (SERVFAIL...) or
// not at all (for resolver_timeout). Counts the questions per name, so tests see the cache.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace halo_test {

class DnsServer {
  public:
    /// Listens on 127.0.0.1:<a free UDP port>.
    DnsServer();
    ~DnsServer();
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;

    uint16_t port() const { return port_; }
    /// "127.0.0.1:<port>", for a `resolver` line.
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    /// `name` answers A with `ipv4` and AAAA with `ipv6` addresses (text form), with `ttl`.
    void set(const std::string& name, std::vector<std::string> ipv4,
             std::vector<std::string> ipv6 = {}, uint32_t ttl = 300);
    /// `name` answers with response code `rcode` (2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED) and no
    /// records.
    void set_rcode(const std::string& name, int rcode);
    /// `name` gets no answer at all.
    void set_silent(const std::string& name);
    /// Questions received for `name` (both types), and of `qtype` (1 A, 28 AAAA) only.
    int queries(const std::string& name) const;
    int queries(const std::string& name, uint16_t qtype) const;

  private:
    struct Record {
        std::vector<std::string> v4, v6;
        uint32_t ttl = 300;
        int rcode = 0;
        bool silent = false;
    };
    void run();
    std::string answer(const std::string& query);

    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mu_;
    std::map<std::string, Record> records_;
    std::map<std::pair<std::string, uint16_t>, int> counts_;
    std::thread thread_;
};

}  // namespace halo_test
