// bastiond-hostile: bastiond whose connection processes act as compromised
// ones, for the monitor's e2e tests (tests/e2e/monitor_test.cpp). Built only
// with the tests; never installed.
//
// Before opening a connection, a test writes $BASTION_HOSTILE_DIR/scenario
// (key=value lines). The next connection process takes it (reads and deletes
// it), runs its steps against the monitor instead of serving the client, and
// appends what happened to $BASTION_HOSTILE_DIR/NAME.out, one fsync'd line
// per event, so the file shows how far it got before the monitor killed it.
// Without a scenario file the connection is served as usual.
//
// The web process takes $BASTION_HOSTILE_DIR/web-scenario the same way when
// it starts (a test kills the running one; the supervisor restarts it), and
// runs web steps once sandboxed:
//   open-state as below
//   call      a WebCall for the step-up page of code= (answer: "answer: STATUS BODY")
//   bad-key   a WebCall whose code the web server would never have passed on
//   wrong-type a connection's message (Authenticate) on the web channel
//
// Connection steps (comma-separated `steps=`):
//   probe     KeyProbe for fingerprint= (key_type=, default sk-ssh-ed25519@openssh.com)
//   auth      Authenticate: fingerprint= signed for user_name= (key_type= as above)
//   poll      StepUpPoll
//   audit     Audit action= (outcome=, default allow) with details= (default {})
//   sign      generate a key, ask for a certificate (source=, default 127.0.0.1);
//             on success write NAME_key and NAME_key-cert.pub
//   json      send the old JSON "auth" line (not a monitor message)
//   kill-msg  send a message only the monitor may send
//   record    RecordingOpen for channel 1; report the descriptor's mode and whether it reads
//   chunk-gap a digest for channel 1 that does not start where the last one ended
//   open-state try to open each of paths= (comma-separated), and to create a file in /tmp
//   open-database open the gateway's database at database= (a PostgreSQL URL
//             without its password, or the SQLite file), as bastiond would
//   exec, fork, read-monitor (open /proc/PPID/mem), signal-monitor (SIGTERM the supervisor)
#include <fcntl.h>
#include <libssh/libssh.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "common/database.h"
#include "common/encoding.h"
#include "gateway/daemon.h"
#include "gateway/app/monitor_protocol.h"

namespace {

using namespace bastion;
using namespace bastion::gateway;

struct Scenario {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
};

// Opened before the sandbox (which allows no file to be opened for writing).
struct Files {
  int out = -1, key = -1, cert = -1;
};

class Out {
 public:
  explicit Out(int fd) : fd_(fd) {}
  void line(const std::string& text) {
    std::string l = text + "\n";
    if (fd_ >= 0 && ::write(fd_, l.data(), l.size()) > 0) ::fsync(fd_);
  }

 private:
  int fd_;
};

void write_all(int fd, const std::string& text) {
  if (fd >= 0 && ::write(fd, text.data(), text.size()) > 0) ::fsync(fd);
}

std::string describe(const monitor::Received& r) {
  using Kind = monitor::Received::Kind;
  if (r.kind != Kind::kMessage) return "none";
  if (const auto* x = std::get_if<monitor::Refused>(&r.message)) return "refused: " + x->reason;
  if (const auto* a = std::get_if<monitor::Accepted>(&r.message)) {
    return "accepted: person=" + a->person + (a->step_up_url.empty() ? "" : " step-up");
  }
  if (const auto* k = std::get_if<monitor::KeyKnown>(&r.message)) return k->known ? "known" : "unknown";
  if (const auto* o = std::get_if<monitor::RecordingOpened>(&r.message)) return "recording " + o->path;
  if (const auto* s = std::get_if<monitor::StepUpResult>(&r.message)) {
    return "step-up " + std::to_string(s->state) + (s->reason.empty() ? "" : ": " + s->reason);
  }
  if (std::holds_alternative<monitor::Certificate>(r.message)) return "certificate";
  if (const auto* k = std::get_if<monitor::Kill>(&r.message)) return "kill: " + k->reason;
  return "other";
}

monitor::Received answer(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0) return {};
  return monitor::recv_message(fd);
}

void sign(int fd, const Scenario& sc, const Files& files, Out& out) {
  ssh_key key = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) return out.line("error: keygen");
  char* b64 = nullptr;
  ssh_pki_export_pubkey_base64(key, &b64);
  auto blob = base64_decode(b64);
  ssh_string_free_char(b64);
  monitor::Sign req;
  req.subject = *blob;
  req.source_address = sc.get("source", "127.0.0.1");
  out.line("step sign");
  (void)monitor::send_message(fd, req);
  auto r = answer(fd);
  out.line("answer: " + describe(r));
  if (const auto* c = std::get_if<monitor::Certificate>(&r.message)) {
    char* priv = nullptr;
    if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &priv) == SSH_OK) {
      std::string text = priv;
      write_all(files.key, text.ends_with("\n") ? text : text + "\n");
      ssh_string_free_char(priv);
    }
    write_all(files.cert, "ssh-ed25519-cert-v01@openssh.com " + base64_encode(c->blob) + "\n");
  }
  ssh_key_free(key);
}

void open_state(const Scenario& sc, Out& out) {
  out.line("step open-state");
  std::stringstream paths(sc.get("paths"));
  for (std::string p; std::getline(paths, p, ',');) {
    int f = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    out.line(f >= 0 ? "answer: opened " + p : "answer: open " + p + ": " + std::strerror(errno));
    if (f >= 0) ::close(f);
  }
  int w = ::open("/tmp/bastion-hostile-write-test", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  out.line(w >= 0 ? "answer: created a file" : std::string("answer: create: ") + std::strerror(errno));
  if (w >= 0) ::close(w);
}

void run_scenario(int fd, const Scenario& sc, const Files& files) {
  Out out(files.out);
  out.line("started");
  std::stringstream steps(sc.get("steps"));
  for (std::string step; std::getline(steps, step, ',');) {
    const std::string key_type = sc.get("key_type", "sk-ssh-ed25519@openssh.com");
    if (step == "probe") {
      out.line("step probe");
      (void)monitor::send_message(fd, monitor::KeyProbe{sc.get("fingerprint"), key_type});
      out.line("answer: " + describe(answer(fd)));
    } else if (step == "auth") {
      out.line("step auth");
      (void)monitor::send_message(fd, monitor::Authenticate{sc.get("fingerprint"), key_type, sc.get("user_name")});
      out.line("answer: " + describe(answer(fd)));
    } else if (step == "poll") {
      out.line("step poll");
      (void)monitor::send_message(fd, monitor::StepUpPoll{});
      out.line("answer: " + describe(answer(fd)));
    } else if (step == "audit") {
      out.line("step audit");
      (void)monitor::send_message(
          fd, monitor::Audit{sc.get("action"), sc.get("outcome", "allow"), "scripted", sc.get("details", "{}")});
      // Nothing comes back for an audit record: a violation shows as the kill.
      out.line("answer: " + describe(answer(fd)));
    } else if (step == "record") {
      // A recording file the monitor creates: what may the child do with it?
      out.line("step record");
      (void)monitor::send_message(fd, monitor::RecordingOpen{1});
      pollfd p{fd, POLLIN, 0};
      auto r = ::poll(&p, 1, 5000) > 0 ? monitor::recv_message(fd, 0, true) : monitor::Received{};
      out.line("answer: " + describe(r));
      if (r.fd) {
        char c;
        int flags = ::fcntl(r.fd.get(), F_GETFL);
        out.line(std::string("answer: fd ") + ((flags & O_ACCMODE) == O_WRONLY ? "write-only" : "readable") +
                 ((flags & O_APPEND) != 0 ? " append" : " positional"));
        out.line(::read(r.fd.get(), &c, 1) < 0 ? "answer: read failed: " + std::string(std::strerror(errno))
                                               : "answer: read succeeded");
      }
    } else if (step == "chunk-gap") {
      out.line("step chunk-gap");
      (void)monitor::send_message(fd, monitor::RecordingChunk{1, 100, 10, std::string(64, '0')});
      out.line("answer: " + describe(answer(fd)));
    } else if (step == "sign") {
      sign(fd, sc, files, out);
    } else if (step == "json") {
      out.line("step json");
      std::string j = R"({"type":"auth","user":"alice","target":"prod-db-1","login":"root","port_forwarding":true})";
      (void)::send(fd, j.data(), j.size(), MSG_NOSIGNAL);
      out.line("answer: " + describe(answer(fd)));
    } else if (step == "open-state") {
      // What the sandbox must keep out of reach: the database, the keys,
      // another session's recording (paths=, comma-separated).
      open_state(sc, out);
    } else if (step == "open-database") {
      out.line("step open-database");
      auto db = Database::open(sc.get("database"), Database::Mode::kReadOnly, 1000);
      out.line(db ? "answer: opened the database" : "answer: " + db.error().message);
    } else if (step == "exec") {
      out.line("step exec");
      char* const args[] = {const_cast<char*>("/bin/true"), nullptr};
      ::execv("/bin/true", args);
      out.line(std::string("answer: exec failed: ") + std::strerror(errno));
    } else if (step == "read-monitor") {
      // The supervisor's memory holds the CA and audit keys.
      out.line("step read-monitor");
      std::string mem = "/proc/" + std::to_string(getppid()) + "/mem";
      int mem_fd = ::open(mem.c_str(), O_RDONLY | O_CLOEXEC);
      out.line(mem_fd >= 0 ? "answer: opened " + mem : "answer: open failed: " + std::string(std::strerror(errno)));
      if (mem_fd >= 0) ::close(mem_fd);
    } else if (step == "signal-monitor") {
      out.line("step signal-monitor");
      int rc = ::kill(getppid(), SIGTERM);
      out.line(rc == 0 ? "answer: signalled" : "answer: kill failed: " + std::string(std::strerror(errno)));
    } else if (step == "fork") {
      out.line("step fork");
      pid_t pid = ::fork();
      if (pid == 0) ::_exit(0);
      out.line(pid > 0 ? "answer: forked" : "answer: fork failed: " + std::string(std::strerror(errno)));
    } else if (step == "kill-msg") {
      out.line("step kill-msg");
      (void)monitor::send_message(fd, monitor::Kill{"forged"});
      out.line("answer: " + describe(answer(fd)));
    }
  }
  out.line("done");
}

void run_web_scenario(int fd, const Scenario& sc, const Files& files) {
  Out out(files.out);
  out.line("started");
  auto web_answer = [&] {
    pollfd p{fd, POLLIN, 0};
    auto r = ::poll(&p, 1, 5000) > 0 ? monitor::recv_message(fd, 0, false, monitor::kMaxAnswer) : monitor::Received{};
    if (const auto* a = std::get_if<monitor::WebAnswer>(&r.message);
        a != nullptr && r.kind == monitor::Received::Kind::kMessage) {
      return "answer: " + std::to_string(a->status) + " " + a->body;
    }
    return "answer: " + describe(r);
  };
  std::stringstream steps(sc.get("steps"));
  for (std::string step; std::getline(steps, step, ',');) {
    if (step == "open-state") {
      open_state(sc, out);
    } else if (step == "call") {
      out.line("step call");
      (void)monitor::send_message(fd, monitor::WebCall{monitor::WebCall::kStepUpInfo, sc.get("code"), ""});
      out.line(web_answer());
    } else if (step == "bad-key") {
      out.line("step bad-key");
      (void)monitor::send_message(fd, monitor::WebCall{monitor::WebCall::kStepUpInfo, "../../bastion.db", ""});
      out.line(web_answer());
    } else if (step == "wrong-type") {
      out.line("step wrong-type");
      (void)monitor::send_message(fd, monitor::Authenticate{"SHA256:x", "ssh-ed25519", "alice"});
      out.line(web_answer());
    }
  }
  out.line("done");
}

std::optional<Scenario> g_scenario;
Files g_files;

// Before the sandbox: take the scenario (`file` in $BASTION_HOSTILE_DIR) and
// open the files it writes.
void take_scenario(const char* file) {
  const char* dir = std::getenv("BASTION_HOSTILE_DIR");
  if (dir == nullptr) return;
  std::string path = std::string(dir) + "/" + file;
  std::ifstream in(path);
  if (!in) return;
  Scenario sc;
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) sc.kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  ::unlink(path.c_str());
  std::string base = std::string(dir) + "/" + sc.get("name", "unnamed");
  g_files.out = ::open((base + ".out").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  g_files.key = ::open((base + "_key").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_files.cert = ::open((base + "_key-cert.pub").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  g_scenario = std::move(sc);
}

void before_sandbox() { take_scenario("scenario"); }
void before_web_sandbox() { take_scenario("web-scenario"); }

void in_web(int monitor_fd) {
  if (!g_scenario) return;
  run_web_scenario(monitor_fd, *g_scenario, g_files);
  g_scenario.reset();  // then serve as usual
}

void in_child(int monitor_fd) {
  if (!g_scenario) return;
  run_scenario(monitor_fd, *g_scenario, g_files);
  ::_exit(0);
}

// As a hung file system would: while $BASTION_HOSTILE_DIR/hr-stall exists
// (at most 60 s), reading a dropped HR file does not return. Writes
// hr-stalled when it starts. Runs on the spool worker's thread: plain
// system calls only.
void before_hr_read(const std::string& /*path*/) {
  const char* dir = std::getenv("BASTION_HOSTILE_DIR");
  if (dir == nullptr) return;
  std::string stall = std::string(dir) + "/hr-stall";
  struct stat st {};
  if (::stat(stall.c_str(), &st) != 0) return;
  int fd = ::open((std::string(dir) + "/hr-stalled").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
  for (int i = 0; i < 600 && ::stat(stall.c_str(), &st) == 0; ++i) ::usleep(100'000);
}

}  // namespace

int main(int argc, char** argv) {
  SupervisorHooks hooks;
  hooks.in_child = in_child;
  hooks.before_sandbox = before_sandbox;
  hooks.before_web_sandbox = before_web_sandbox;
  hooks.in_web = in_web;
  hooks.before_hr_read = before_hr_read;
  return daemon_main(argc, argv, std::move(hooks));
}
