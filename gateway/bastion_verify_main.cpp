// bastion-verify: checks an evidence pack (bastionctl evidence export) on
// the auditor's own machine; evidence/pack_verifier.h says what it checks.
// Exit status: 0 the pack verifies, 1 it has exceptions, 2 it cannot be read.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common/audit_format.h"
#include "common/files.h"
#include "evidence/pack_verifier.h"

namespace {

using namespace bastion;

// A fingerprint as given, or the fingerprint of an audit public key file.
Result<std::string> expected_fingerprint(const std::string& arg) {
  if (arg.starts_with("SHA256:")) return arg;
  auto text = read_file(arg, 4096);
  if (!text) return text.error().prefixed("--expect-key: ");
  auto key = parse_audit_public_key(*text);
  if (!key) return key.error().prefixed("--expect-key " + arg + ": ");
  return audit_key_fingerprint(*key);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "bastion-verify: check a bastion evidence pack offline: its signature, every file's digest, the audit hash "
      "chain and its checkpoints, grants, consents, sessions and leavers. Exit status 0: it verifies; 1: it has "
      "exceptions (listed); 2: it cannot be read."};
  app.name("bastion-verify");
  app.set_version_flag("--version", std::string("bastion-verify ") + BASTION_VERSION);
  std::string pack, fingerprint_of, max_delay;
  std::vector<std::string> expect;
  bool json = false;
  app.add_option("PACK", pack, "the evidence pack (tar), or - for standard input");
  app.add_option("--expect-key", expect,
                 "the audit key you obtained out of band: its .pub file or its SHA256: fingerprint (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--max-signing-delay", max_delay,
                 "how late a record may be signed (e.g. 5m; default: twice the gateway's checkpoint interval + 1m)");
  app.add_flag("--json", json, "print the report as JSON");
  app.add_option("--fingerprint", fingerprint_of, "print the fingerprint of an audit public key file and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!fingerprint_of.empty()) {
    auto f = expected_fingerprint(fingerprint_of);
    if (!f) {
      std::fprintf(stderr, "bastion-verify: %s\n", f.error().message.c_str());
      return 2;
    }
    std::printf("%s\n", f->c_str());
    return 0;
  }
  if (pack.empty()) {
    std::fprintf(stderr, "bastion-verify: name the evidence pack to check (--help)\n");
    return 2;
  }
  evidence::VerifyOptions opt;
  for (const auto& e : expect) {
    auto f = expected_fingerprint(e);
    if (!f) {
      std::fprintf(stderr, "bastion-verify: %s\n", f.error().message.c_str());
      return 2;
    }
    opt.expect_keys.push_back(*f);
  }
  if (!max_delay.empty()) {
    auto d = parse_duration(max_delay);
    if (!d) {
      std::fprintf(stderr, "bastion-verify: --max-signing-delay: %s\n", d.error().message.c_str());
      return 2;
    }
    opt.max_signing_delay = *d;
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (pack != "-") {
    file.open(pack, std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "bastion-verify: cannot open %s\n", pack.c_str());
      return 2;
    }
    in = &file;
  }
  auto source = [in](char* buf, size_t cap) -> Result<size_t> {
    in->read(buf, static_cast<std::streamsize>(cap));
    if (in->bad()) return make_error("read error");
    return static_cast<size_t>(in->gcount());
  };
  auto report = evidence::verify_pack(source, opt);
  if (!report) {
    std::fprintf(stderr, "bastion-verify: %s: %s\n", pack.c_str(), report.error().message.c_str());
    return 2;
  }
  if (json) {
    std::cout << evidence::report_json(*report).dump(2) << "\n";
  } else {
    std::cout << evidence::summary_text(*report);
  }
  return report->ok() ? 0 : 1;
}
