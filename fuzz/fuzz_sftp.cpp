// Fuzzes recorder::SftpAuditor, the SFTP (filexfer v3) packet parser that
// watches both directions of a relayed channel.
// Input: a sequence of chunks. Each chunk is one header byte H and then
// (H & 0x7f) bytes: H & 0x80 set sends them as server_data (target ->
// client), clear as client_data. A chunk of length 0 calls take_events().
// Feeding stops at the first error (the relay ends the channel then); then
// close_all(), which reports open files and unanswered requests, never ok.
// fuzz/make_seeds.py writes seeds in this format.
// The same chunks go through recorder::SftpReplay (the reader of SFTP
// channels recorded with sftp_content), putting transfer 1 together: what it
// writes is contiguous and never more than the transfer's bytes.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_support.h"
#include "recorder/sftp_audit.h"
#include "recorder/sftp_content.h"

using namespace bastion;

namespace {

void check_events(const std::vector<recorder::FileEvent>& events) {
  static const std::set<std::string> kActions = {
      "open",      "opendir",     "close",     "remove",         "rename",
      "mkdir",     "rmdir",       "setstat",   "fsetstat",       "stat",
      "lstat",     "fstat",       "realpath",  "readlink",       "symlink",
      "hardlink",  "fsync",       "statvfs",   "fstatvfs",       "lsetstat",
      "limits",    "expand-path", "copy-data", "home-directory", "users-groups-by-id",
      "extension", "request"};
  for (const auto& e : events) {
    FUZZ_CHECK(kActions.count(e.action) == 1);
    FUZZ_CHECK(!e.ok || e.status == "ok");
    // Only the auditor's refusals are refused, and a refusal is never ok.
    FUZZ_CHECK(e.refused == (e.action == "extension" || e.action == "request"));
    FUZZ_CHECK(!e.refused || !e.ok);
    FUZZ_CHECK(e.action != "open" || e.mode == "read" || e.mode == "write" || e.mode == "read+write");
  }
}

void replay(const uint8_t* data, size_t size) {
  uint64_t written = 0;
  recorder::SftpReplay rp(1, [&](std::string_view b) {
    FUZZ_CHECK(!b.empty());
    written += b.size();
    return Status{};
  });
  Status st;
  for (size_t pos = 0; pos < size && st;) {
    uint8_t h = data[pos++];
    size_t len = std::min<size_t>(h & 0x7f, size - pos);
    std::string_view chunk = fuzz::as_text(data + pos, len);
    pos += len;
    st = (h & 0x80) ? rp.server(chunk) : rp.client(chunk);
  }
  if (st) st = rp.finish();
  if (!st) FUZZ_CHECK(!st.message().empty());
  if (!rp.transfers().empty()) {
    const auto& t = rp.transfers()[0];
    FUZZ_CHECK(written <= t.uploaded + t.downloaded);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  replay(data, size);
  recorder::SftpAuditor auditor;
  size_t pos = 0;
  while (pos < size) {
    uint8_t h = data[pos++];
    size_t len = std::min<size_t>(h & 0x7f, size - pos);
    if (len == 0) {
      check_events(auditor.take_events());
      continue;
    }
    std::string_view chunk = fuzz::as_text(data + pos, len);
    pos += len;
    Status st = (h & 0x80) ? auditor.server_data(chunk) : auditor.client_data(chunk);
    if (!st) {
      FUZZ_CHECK(!st.message().empty());
      break;
    }
  }
  check_events(auditor.take_events());
  auto rest = auditor.close_all("channel closed");
  check_events(rest);
  for (const auto& e : rest) FUZZ_CHECK(!e.ok && !e.refused);
  FUZZ_CHECK(auditor.take_events().empty());
  return 0;
}
