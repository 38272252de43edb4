// Fuzzes bastion::load_config (bastion.toml: TOML parsing and validation) and
// parse_host_port.
// Input: the whole config file. It is written to one file in a private temp
// directory (the same path for every input of this process) and loaded.
// Its first line (at most 64 bytes) is also tried as a duration (the parser
// behind every duration key) and as a "HOST:PORT" listen address: when
// parse_host_port accepts it (and it needs no TOML escaping),
// default_config_text(listen) must load and give back the same host and port.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "fuzz_support.h"

using namespace bastion;

namespace {

const std::string& config_path() {
  static const std::string path = fuzz::temp_dir() + "/bastion.toml";
  return path;
}

void check_default_config(const std::string& listen, const std::string& host, uint16_t port) {
  fuzz::write_whole_file(config_path(), default_config_text(listen));
  auto cfg = load_config(config_path());
  if (!cfg) {
    std::fprintf(stderr, "default_config_text(\"%s\") does not load: %s\n", listen.c_str(),
                 cfg.error().message.c_str());
  }
  FUZZ_CHECK(cfg);
  FUZZ_CHECK(cfg->listen_host == host && cfg->listen_port == port);
  FUZZ_CHECK(cfg->config_path == config_path());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The text `bastionctl init` writes must always load.
  check_default_config("127.0.0.1:2200", "127.0.0.1", 2200);
  check_default_config("[::1]:22", "::1", 22);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  fuzz::write_whole_file(config_path(), text);
  auto cfg = load_config(config_path());
  if (cfg) {
    FUZZ_CHECK(cfg->config_path == config_path());
    FUZZ_CHECK(!cfg->host_keys.empty());
    FUZZ_CHECK(cfg->listen_port >= 1);
    FUZZ_CHECK(cfg->certificate_validity > 0 && cfg->certificate_validity <= 5 * 60 * kMicrosPerSecond);
  } else {
    FUZZ_CHECK(!cfg.error().message.empty());
  }

  std::string listen(text.substr(0, std::min(text.find('\n'), size_t{64})));
  if (auto d = parse_duration(listen)) FUZZ_CHECK(*d >= 0);
  std::string host;
  uint16_t port = 0;
  if (parse_host_port(listen, host, port)) {
    FUZZ_CHECK(!host.empty() && port >= 1);
    bool plain = listen.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:[]-_") ==
                 std::string::npos;
    if (plain) check_default_config(listen, host, port);
  }
  return 0;
}
