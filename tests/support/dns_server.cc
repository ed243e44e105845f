#include "support/dns_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace halo_test {

namespace {

uint16_t get16(const std::string& m, size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) |
                                 static_cast<uint8_t>(m[at + 1]));
}

void put16(std::string& out, uint16_t v) {
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
}

void put32(std::string& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v & 0xffff));
}

std::string lower(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

}  // namespace

DnsServer::DnsServer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
        socklen_t len = sizeof(a);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    thread_ = std::thread([this] { run(); });
}

DnsServer::~DnsServer() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

void DnsServer::set(const std::string& name, std::vector<std::string> ipv4,
                    std::vector<std::string> ipv6, uint32_t ttl) {
    std::lock_guard<std::mutex> lock(mu_);
    Record& r = records_[lower(name)];
    r = Record{};
    r.v4 = std::move(ipv4);
    r.v6 = std::move(ipv6);
    r.ttl = ttl;
}

void DnsServer::set_rcode(const std::string& name, int rcode) {
    std::lock_guard<std::mutex> lock(mu_);
    records_[lower(name)] = Record{};
    records_[lower(name)].rcode = rcode;
}

void DnsServer::set_silent(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    records_[lower(name)] = Record{};
    records_[lower(name)].silent = true;
}

int DnsServer::queries(const std::string& name) const {
    return queries(name, 1) + queries(name, 28);
}

int DnsServer::queries(const std::string& name, uint16_t qtype) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find({lower(name), qtype});
    return it == counts_.end() ? 0 : it->second;
}

void DnsServer::run() {
    while (!stop_ && fd_ >= 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) {
            continue;
        }
        char buf[1500];
        sockaddr_storage from{};
        socklen_t flen = sizeof(from);
        ssize_t n = ::recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen);
        if (n <= 0) {
            continue;
        }
        std::string out = answer(std::string(buf, static_cast<size_t>(n)));
        if (!out.empty()) {
            ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
        }
    }
}

std::string DnsServer::answer(const std::string& q) {
    if (q.size() < 17) {
        return {};
    }
    // The question: labels from offset 12, then type and class.
    std::string name;
    size_t at = 12;
    while (at < q.size() && q[at] != 0) {
        size_t len = static_cast<uint8_t>(q[at]);
        if (at + 1 + len > q.size()) {
            return {};
        }
        if (!name.empty()) {
            name += '.';
        }
        name += q.substr(at + 1, len);
        at += 1 + len;
    }
    if (at + 5 > q.size()) {
        return {};
    }
    size_t question_end = at + 5;
    uint16_t qtype = get16(q, at + 1);
    name = lower(name);
    Record rec;
    bool known = false;
    {
        std::lock_guard<std::mutex> lock(mu_);
        counts_[{name, qtype}]++;
        auto it = records_.find(name);
        if (it != records_.end()) {
            rec = it->second;
            known = true;
        }
    }
    if (rec.silent) {
        return {};
    }
    int rcode = known ? rec.rcode : 3;
    std::vector<std::string> addrs;
    if (rcode == 0) {
        addrs = qtype == 1 ? rec.v4 : qtype == 28 ? rec.v6 : std::vector<std::string>{};
    }
    std::string out;
    put16(out, get16(q, 0));
    put16(out, static_cast<uint16_t>(0x8180 | rcode));  // response, RD, RA
    put16(out, 1);
    put16(out, static_cast<uint16_t>(addrs.size()));
    put16(out, 0);
    put16(out, 0);
    out += q.substr(12, question_end - 12);
    for (const std::string& a : addrs) {
        put16(out, 0xc00c);  // the question's name
        put16(out, qtype);
        put16(out, 1);
        put32(out, rec.ttl);
        unsigned char bytes[16];
        int family = qtype == 1 ? AF_INET : AF_INET6;
        inet_pton(family, a.c_str(), bytes);
        size_t len = qtype == 1 ? 4 : 16;
        put16(out, static_cast<uint16_t>(len));
        out.append(reinterpret_cast<char*>(bytes), len);
    }
    return out;
}

}  // namespace halo_test
