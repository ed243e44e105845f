// A reader of the Prometheus text exposition format (0.0.4) for tests: checks the syntax
// (# HELP / # TYPE before a family's samples, one TYPE per family, samples of a family
// together, label syntax and escapes, numeric values) and finds samples by name and labels.
// Plain C++ (linked into both test binaries).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace halo_test {

struct PromSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

class PromText {
  public:
    /// Parses `text`; std::nullopt with the line and reason in `error` when it is malformed.
    static std::optional<PromText> parse(std::string_view text, std::string* error = nullptr);

    const std::vector<PromSample>& samples() const { return samples_; }
    /// The TYPE of family `name` ("counter", "gauge"...), empty when it has none.
    std::string type(const std::string& name) const;
    /// Samples named `name` whose labels include every pair of `labels`.
    std::vector<const PromSample*> find(
        const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
    /// The value of the one sample that matches; std::nullopt when none or several do.
    std::optional<double> value(const std::string& name,
                                const std::map<std::string, std::string>& labels = {}) const;
    /// The sum of the values of every matching sample.
    double sum(const std::string& name,
               const std::map<std::string, std::string>& labels = {}) const;

  private:
    std::vector<PromSample> samples_;
    std::map<std::string, std::string> types_;
};

}  // namespace halo_test
