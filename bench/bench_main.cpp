// bastion-bench: micro benchmarks of the recorder (not timed tests).
//   bastion-bench audit [--records N] [--procs P]   appends/s with the chain and durable commits
//   bastion-bench recordings [--mib N]              write, replay-parse and search N MiB of asciicast
//   bastion-bench command-index [--mib N]           terminal output through the command indexer
// Prints one markdown table row per measurement.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "recorder/asciicast.h"
#include "recorder/audit_log.h"
#include "recorder/command_index.h"
#include "recorder/review.h"

using namespace bastion;
using Steady = std::chrono::steady_clock;

namespace {

double seconds_since(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

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

void bench_audit(const std::string& dir, int records, int procs) {
  std::string path = dir + "/audit.db";
  std::filesystem::remove(path);
  if (!Database::open(path, Database::Mode::kCreate)) return;
  auto t0 = Steady::now();
  for (int p = 0; p < procs; ++p) {
    if (fork() == 0) _exit(append_n(path, records / procs));
  }
  bool ok = true;
  for (int p = 0; p < procs; ++p) {
    int status = 0;
    wait(&status);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  double s = seconds_since(t0);
  std::printf("| audit appends, %d process%s, chained + fsync'd (synchronous=FULL) | %d records | %.2f s | %.0f appends/s%s |\n",
              procs, procs == 1 ? "" : "es", records, s, records / s, ok ? "" : " (ERRORS)");
}

// The monitor's group commit: `writers` connections each have one record
// waiting in a round of the event loop; the round appends them all in one
// transaction (one fsync) and answers each once it is durable.
void bench_group_commit(const std::string& dir, int records, int writers) {
  std::string path = dir + "/audit-group.db";
  std::filesystem::remove(path);
  auto db = Database::open(path, Database::Mode::kCreate);
  if (!db) return;
  recorder::AuditLog log(*db, SystemClock::instance());
  auto t0 = Steady::now();
  bool ok = true;
  for (int done = 0; done < records && ok;) {
    ok = static_cast<bool>(db->begin());
    for (int i = 0; i < writers && done < records && ok; ++i, ++done) {
      recorder::AuditEvent e{"bench", "bench.append", recorder::Outcome::kInfo, "", "t", "root", "", "s-1", {{"i", done}}};
      ok = static_cast<bool>(log.append(e));
    }
    ok = ok && static_cast<bool>(db->commit());
  }
  double s = seconds_since(t0);
  std::printf("| audit appends, group commit of %d waiting writer%s per transaction (the monitor), chained + fsync'd | %d records | %.2f s | %.0f appends/s%s |\n",
              writers, writers == 1 ? "" : "s", records, s, records / s, ok ? "" : " (ERRORS)");
  std::filesystem::remove(path);
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
  std::printf("| recording read + parse (replay/export path) | %.0f MiB | %.2f s | %.0f MiB/s |\n", m, read_s, m / read_s);
  std::printf("| recording search (escape-stripped text) | %.0f MiB | %.2f s | %.0f MiB/s, %zu hit |\n", m, search_s,
              m / search_s, hits.size());
  std::filesystem::remove(path);
}

// What `find /usr` prints, in the 4 KiB reads a session's output comes in,
// with a command typed at a prompt every 1,000 lines.
void bench_command_index(int mib) {
  std::mt19937 rng(42);
  const char* parts[] = {"usr", "share", "lib", "x86_64-linux-gnu", "doc", "python3", "dist-packages",
                         "locale", "man", "include", "bin", "perl5", "zoneinfo", "Europe"};
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
  std::printf("| command index (libvterm, 120x40, find-like output) | %.0f MiB | %.2f s | %.0f MiB/s, %zu commands |\n", m, s,
              m / s, ix.entries().size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bastion-bench: recorder benchmarks (prints markdown table rows)"};
  app.require_subcommand(1);
  std::string dir = std::filesystem::temp_directory_path();
  app.add_option("--dir", dir, "scratch folder");
  int records = 20000, procs = 1, mib = 256;
  auto* audit = app.add_subcommand("audit", "audit appends per second");
  audit->add_option("--records", records, "records in total")->capture_default_str();
  audit->add_option("--procs", procs, "concurrent writer processes")->capture_default_str();
  int writers = 1;
  auto* group = app.add_subcommand("group-commit", "audit appends per second, committed in groups as the monitor does");
  group->add_option("--records", records, "records in total")->capture_default_str();
  group->add_option("--writers", writers, "records waiting per round (one per connection)")->capture_default_str();
  auto* rec = app.add_subcommand("recordings", "write, read and search a large recording");
  rec->add_option("--mib", mib, "recording size in MiB")->capture_default_str();
  auto* cmdidx = app.add_subcommand("command-index", "terminal output through the command indexer");
  cmdidx->add_option("--mib", mib, "output in MiB")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (audit->parsed()) bench_audit(dir, records, procs);
  if (group->parsed()) bench_group_commit(dir, records, writers);
  if (rec->parsed()) bench_recordings(dir, mib);
  if (cmdidx->parsed()) bench_command_index(mib);
  return 0;
}
