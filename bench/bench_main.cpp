// bastion-bench: micro benchmarks of the recorder (not timed tests).
//   bastion-bench audit [--records N] [--procs P] [--database URL]
//                                                   appends/s with the chain and durable commits (SQLite, or
//                                                   an empty PostgreSQL database)
//   bastion-bench fill-audit --database PATH|URL [--records N]
//                                                   N more chained records in a deployment's database
//   bastion-bench recordings [--mib N]              write, replay-parse and search N MiB of asciicast
//   bastion-bench streams [--mib N]                 N MiB of binary output: stream writer (zstd or not) vs asciicast
//   bastion-bench command-index [--mib N]           terminal output through the command indexer
//   bastion-bench console [--people N] [--targets N] [--customers N] [--elevations N] [--rounds N]
//                                                   the web console's server time per page (bench_console.cpp)
// Prints one markdown table row per measurement.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <functional>
#include <random>

#include "common/files.h"
#include "recorder/asciicast.h"
#include "recorder/audit_log.h"
#include "recorder/command_index.h"
#include "recorder/review.h"
#include "recorder/stream_reader.h"
#include "recorder/stream_writer.h"

using namespace bastion;
using Steady = std::chrono::steady_clock;

namespace {

double seconds_since(Steady::time_point t0) { return std::chrono::duration<double>(Steady::now() - t0).count(); }

int append_n(const std::string& db_path, int n) {
  auto db = Database::open(db_path, Database::Mode::kOpenExisting);
  if (!db) return 2;
  recorder::AuditLog log(*db, SystemClock::instance());
  for (int i = 0; i < n; ++i) {
    recorder::AuditEvent e{"bench", "bench.append", recorder::Outcome::kInfo, "", "t", "root", "", "s-1", {{"i", i}}};
    if (auto r = log.append(e); !r) {
      std::fprintf(stderr, "append %d failed: %s\n", i, r.error().message.c_str());
      return 3;
    }
  }
  return 0;
}

// A fresh audit store at `database` (or a SQLite file `file` in `dir`), then
// `procs` processes each running `writer(path)`; the seconds it took and
// whether every writer succeeded. Empty: the store could not be created.
std::optional<std::pair<double, bool>> run_writers(const std::string& dir, const std::string& file,
                                                   const std::string& database, int procs,
                                                   const std::function<int(const std::string&)>& writer) {
  std::string path = database.empty() ? dir + "/" + file : database;
  if (database.empty()) std::filesystem::remove(path);
  if (auto created = Database::open(path, Database::Mode::kCreate); !created) {
    std::fprintf(stderr, "bastion-bench: %s\n", created.error().message.c_str());
    return std::nullopt;
  }
  auto t0 = Steady::now();
  for (int p = 0; p < procs; ++p) {
    if (fork() == 0) _exit(writer(path));
  }
  bool ok = true;
  for (int p = 0; p < procs; ++p) {
    int status = 0;
    wait(&status);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  double s = seconds_since(t0);
  if (database.empty()) std::filesystem::remove(path);
  return std::make_pair(s, ok);
}

void bench_audit(const std::string& dir, int records, int procs, const std::string& database) {
  auto r = run_writers(dir, "audit.db", database, procs,
                       [&](const std::string& path) { return append_n(path, records / procs); });
  if (!r) return;
  auto [s, ok] = *r;
  std::printf(
      "| audit appends, %d process%s, chained + %s | %d records | %.2f s | %.0f appends/s%s "
      "|\n",
      procs, procs == 1 ? "" : "es", database.empty() ? "fsync'd (SQLite, synchronous=FULL)" : "committed (PostgreSQL)",
      records, s, records / s, ok ? "" : " (ERRORS)");
}

// The monitor's group commit: `writers` connections each have one record
// waiting in a round of the event loop; the round appends them all in one
// transaction (one fsync) and answers each once it is durable.
// One writer process of bench_group_commit: `records` appends, `writers` per transaction.
int group_commit_n(const std::string& path, int records, int writers) {
  auto db = Database::open(path, Database::Mode::kOpenExisting);
  if (!db) {
    std::fprintf(stderr, "bastion-bench: %s\n", db.error().message.c_str());
    return 2;
  }
  recorder::AuditLog log(*db, SystemClock::instance());
  for (int done = 0; done < records;) {
    if (!db->begin()) return 3;
    for (int i = 0; i < writers && done < records; ++i, ++done) {
      recorder::AuditEvent e{"bench", "bench.append", recorder::Outcome::kInfo, "", "t", "root", "",
                             "s-1",   {{"i", done}}};
      if (!log.append(e)) return 3;
    }
    if (!db->commit()) return 3;
  }
  return 0;
}

void bench_group_commit(const std::string& dir, int records, int writers, int procs, const std::string& database) {
  auto r = run_writers(dir, "audit-group.db", database, procs,
                       [&](const std::string& path) { return group_commit_n(path, records / procs, writers); });
  if (!r) return;
  auto [s, ok] = *r;
  std::printf(
      "| audit appends, %d process%s, group commit of %d waiting writer%s per transaction (the monitor), chained + "
      "%s | %d records | %.2f s | %.0f appends/s%s |\n",
      procs, procs == 1 ? "" : "es", writers, writers == 1 ? "" : "s",
      database.empty() ? "fsync'd (SQLite)" : "committed (PostgreSQL)", records, s, records / s, ok ? "" : " (ERRORS)");
}

void bench_recordings(const std::string& dir, int mib) {
  std::string path = dir + "/bench.cast";
  std::filesystem::remove(path);
  recorder::CastHeader h;
  auto w = recorder::CastWriter::open(path, h, kMicrosPerSecond);
  if (!w) return;
  std::mt19937 rng(42);
  std::string line;
  const char* words[] = {"ls -la", "drwxr-xr-x", "root", "total", "2026-11-22", "bastion", "needle-not-here"};
  auto t0 = Steady::now();
  Micros t = 0;
  while ((*w)->size() < static_cast<int64_t>(mib) << 20) {
    line.clear();
    for (int i = 0; i < 12; ++i) line += std::string(words[rng() % 6]) + " ";
    line += "\r\n";
    t += 1000;
    if (!(*w)->output(t, line)) return;
  }
  (void)(*w)->output(t + 1000, "the-needle-we-search-for\r\n");
  auto sum = (*w)->close();
  double write_s = seconds_since(t0);
  t0 = Steady::now();
  auto cast = recorder::read_cast(path);
  double read_s = seconds_since(t0);
  if (!cast) return;
  t0 = Steady::now();
  auto hits = recorder::search_cast(*cast, "the-needle-we-search-for");
  double search_s = seconds_since(t0);
  double m = static_cast<double>(sum->size) / (1 << 20);
  std::printf("| recording write (asciicast, hashed) | %.0f MiB | %.2f s | %.0f MiB/s |\n", m, write_s, m / write_s);
  std::printf("| recording read + parse (replay/export path) | %.0f MiB | %.2f s | %.0f MiB/s |\n", m, read_s,
              m / read_s);
  std::printf("| recording search (rendered screen text) | %.0f MiB | %.2f s | %.0f MiB/s, %zu hit |\n", m, search_s,
              m / search_s, hits.size());
  std::filesystem::remove(path);
}

// Output as the relay hands it to the recorder: 32 KiB pieces, 1 ms apart.
template <class Write>
bool feed(int mib, const std::string& data, Write&& write) {
  constexpr size_t kPiece = 32 * 1024;
  Micros t = 0;
  for (int64_t done = 0; done < static_cast<int64_t>(mib) << 20; done += kPiece) {
    t += 1000;
    if (!write(t, std::string_view(data).substr(static_cast<size_t>(done) % data.size(), kPiece))) return false;
  }
  return true;
}

void report_write(const std::string& what, int mib, double s, const std::string& path) {
  double on_disk = static_cast<double>(std::filesystem::file_size(path));
  std::printf("| %s | %d MiB | %.2f s | %.0f MiB/s, %.3f bytes on disk per byte |\n", what.c_str(), mib, s, mib / s,
              on_disk / (static_cast<double>(mib) * (1 << 20)));
}

void bench_stream_write(const std::string& dir, int mib, const std::string& data, const char* kind, bool compress) {
  std::string path = dir + "/bench.stream";
  std::filesystem::remove(path);
  auto w = recorder::StreamWriter::open(path, {"s-1", 1, "cat backup.bin", 0}, kMicrosPerSecond, compress);
  if (!w) return;
  auto t0 = Steady::now();
  bool ok = feed(mib, data, [&](Micros t, std::string_view b) {
    return static_cast<bool>((*w)->write(t, recorder::StreamId::kStdout, b));
  });
  ok = ok && (*w)->close();
  double write_s = seconds_since(t0);
  if (!ok) return;
  report_write(std::string("stream write (") + kind + ", " + (compress ? "zstd" : "uncompressed") + ", hashed)", mib,
               write_s, path);
  auto bytes = read_file(path, size_t{8} << 30);
  t0 = Steady::now();
  int64_t n = 0;
  auto scan = recorder::scan_stream(
      *bytes, "",
      [&](const recorder::StreamRecord& r) -> Status {
        n += static_cast<int64_t>(r.bytes.size());
        return {};
      },
      path);
  double read_s = seconds_since(t0);
  if (scan)
    std::printf("| stream read (export path, %s, %s) | %d MiB | %.2f s | %.0f MiB/s |\n", kind,
                compress ? "zstd" : "uncompressed", mib, read_s, mib / read_s);
  std::filesystem::remove(path);
}

void bench_cast_binary(const std::string& dir, int mib, const std::string& data, const char* kind) {
  std::string path = dir + "/bench-binary.cast";
  std::filesystem::remove(path);
  auto w = recorder::CastWriter::open(path, {}, kMicrosPerSecond);
  if (!w) return;
  auto t0 = Steady::now();
  bool ok = feed(mib, data, [&](Micros t, std::string_view b) { return static_cast<bool>((*w)->output(t, b)); });
  ok = ok && (*w)->close();
  double s = seconds_since(t0);
  if (ok)
    report_write(std::string("asciicast write of the same output (") + kind + ", each byte hashed once)", mib, s, path);
  std::filesystem::remove(path);
}

void bench_streams(const std::string& dir, int mib) {
  std::string random(8 << 20, '\0');
  std::mt19937_64 rng(42);
  for (size_t i = 0; i + 8 <= random.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(random.data() + i, &v, 8);
  }
  std::string zeros(8 << 20, '\0');
  for (const auto& [kind, data] : {std::pair<const char*, const std::string*>{"incompressible", &random},
                                   std::pair<const char*, const std::string*>{"zeros", &zeros}}) {
    bench_stream_write(dir, mib, *data, kind, true);
    bench_stream_write(dir, mib, *data, kind, false);
    bench_cast_binary(dir, mib, *data, kind);
  }
}

// What `find /usr` prints, in the 4 KiB reads a session's output comes in,
// with a command typed at a prompt every 1,000 lines.
void bench_command_index(int mib) {
  std::mt19937 rng(42);
  const char* parts[] = {"usr",           "share",  "lib", "x86_64-linux-gnu", "doc", "python3",
                         "dist-packages", "locale", "man", "include",          "bin", "perl5",
                         "zoneinfo",      "Europe"};
  std::string stream;
  for (int line = 0; stream.size() < (size_t{4} << 20); ++line) {
    int depth = 2 + static_cast<int>(rng() % 6);
    for (int d = 0; d < depth; ++d) stream += std::string("/") + parts[rng() % 14];
    stream += "/file" + std::to_string(rng() % 10000) + ".txt\r\n";
  }
  recorder::CommandIndexer ix(120, 40);
  const size_t total = static_cast<size_t>(mib) << 20;
  size_t fed = 0;
  Micros t = 0;
  auto t0 = Steady::now();
  while (fed < total) {
    for (size_t off = 0; off < stream.size() && fed < total; off += 4096) {
      std::string_view chunk = std::string_view(stream).substr(off, 4096);
      ix.output(++t, chunk);
      fed += chunk.size();
      if (off % (4096 * 16) == 0) {
        ix.output(++t, "$ ");
        ix.input(++t, "ls\r");
        ix.output(++t, "ls\r\n");
      }
    }
  }
  double s = seconds_since(t0);
  double m = static_cast<double>(fed) / (1 << 20);
  std::printf("| command index (libvterm, 120x40, find-like output) | %.0f MiB | %.2f s | %.0f MiB/s, %zu commands |\n",
              m, s, m / s, ix.entries().size());
}

}  // namespace

int bench_console(const std::string& dir, int people, int targets, int customers, int elevations, int sessions,
                  int audit, int rounds);

int main(int argc, char** argv) {
  CLI::App app{"bastion-bench: recorder benchmarks (prints markdown table rows)"};
  app.require_subcommand(1);
  std::string dir = std::filesystem::temp_directory_path();
  app.add_option("--dir", dir, "scratch folder");
  int records = 20000, procs = 1, mib = 256;
  auto* audit = app.add_subcommand("audit", "audit appends per second");
  audit->add_option("--records", records, "records in total")->capture_default_str();
  audit->add_option("--procs", procs, "concurrent writer processes")->capture_default_str();
  std::string database;
  audit->add_option("--database", database, "postgresql://... of an empty database (default: SQLite in --dir)");
  int writers = 1;
  auto* group = app.add_subcommand("group-commit", "audit appends per second, committed in groups as the monitor does");
  group->add_option("--records", records, "records in total")->capture_default_str();
  group->add_option("--writers", writers, "records waiting per round (one per connection)")->capture_default_str();
  group->add_option("--procs", procs, "concurrent writer processes (gateway nodes)")->capture_default_str();
  group->add_option("--database", database, "postgresql://... of an empty database (default: SQLite in --dir)");
  auto* rec = app.add_subcommand("recordings", "write, read and search a large recording");
  rec->add_option("--mib", mib, "recording size in MiB")->capture_default_str();
  auto* streams = app.add_subcommand("streams", "byte-exact stream recordings of binary output vs asciicast");
  streams->add_option("--mib", mib, "output size in MiB")->capture_default_str();
  auto* fill = app.add_subcommand("fill-audit",
                                  "append --records chained audit records to an existing deployment's database "
                                  "(the backup drill's 1,000,000), 1000 per transaction");
  fill->add_option("--records", records, "records to append")->capture_default_str();
  fill->add_option("--database", database, "the deployment's database (SQLite file or postgresql://...)")->required();
  auto* cmdidx = app.add_subcommand("command-index", "terminal output through the command indexer");
  cmdidx->add_option("--mib", mib, "output in MiB")->capture_default_str();
  int people = 10000, targets = 1000, customers = 100, elevations = 100000, sessions = 100000, audit_records = 1000000,
      rounds = 200;
  auto* console = app.add_subcommand("console", "the web console's server time per page on a large deployment");
  console->add_option("--people", people, "people")->capture_default_str();
  console->add_option("--targets", targets, "targets")->capture_default_str();
  console->add_option("--customers", customers, "customers")->capture_default_str();
  console->add_option("--elevations", elevations, "requests and grants in the history")->capture_default_str();
  console->add_option("--sessions", sessions, "sessions in the history")->capture_default_str();
  console->add_option("--audit", audit_records, "audit records")->capture_default_str();
  console->add_option("--rounds", rounds, "calls per page (a tenth of them for recordings and audit)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (streams->parsed()) bench_streams(dir, mib);
  if (audit->parsed()) bench_audit(dir, records, procs, database);
  if (group->parsed()) bench_group_commit(dir, records, writers, procs, database);
  if (fill->parsed()) return group_commit_n(database, records, 1000);
  if (rec->parsed()) bench_recordings(dir, mib);
  if (cmdidx->parsed()) bench_command_index(mib);
  if (console->parsed()) {
    return bench_console(dir, people, targets, customers, elevations, sessions, audit_records, rounds);
  }
  return 0;
}
