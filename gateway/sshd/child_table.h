// ChildTable: the supervisor's connection processes (by pid) and the
// connections waiting for a pre-auth slot, with the rules that say when one
// more may be served: at most max_unauthenticated processes that have not
// authenticated, at most max_unauthenticated_per_source of them from one
// source group (an IPv6 address's /64); past those, up to max_queued
// connections wait (max_queued_per_source from one group), oldest first, for
// at most login_grace_time.
//
// Contract: holds a reference to `cfg` and `clock`, which must outlive it.
// It forks nothing and touches no socket: serving a waiting connection is the
// `serve` callback's work. Not thread-safe (the supervisor's loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/config.h"
#include "common/unique_fd.h"
#include "gateway/app/monitor_protocol.h"
#include "gateway/sshd/monitor_rules.h"
#include "recorder/stream_writer.h"

namespace bastion::gateway {

struct ChildInfo {
  int pid = 0;
  ChildState state = ChildState::kPreauth;
  AskedOnce asked_once;  // requests allowed once that were made
  UniqueFd channel;      // SOCK_SEQPACKET to the child
  std::string source_ip;
  std::string source_group;  // what per-source limits count (an IPv6 address's /64)
  std::string source;
  bool authenticated = false;  // the monitor accepted its Authenticate
  bool session_row = false;    // the monitor started its session row and has not ended it
  int key_probes = 0, auth_attempts = 0;
  int failures = 0;                    // refused probes and refused logins: more than max_auth_attempts ends it
  std::set<std::string> refused_keys;  // keys whose probe was refused (each counted once)
  int unaudited_probes = 0;            // refused probes past kMaxProbeAudits: one summary record at exit
  // Everything below is the monitor's own derivation, never the child's claim.
  std::string session_id;  // assigned at fork
  std::string user, target, login;
  std::string principal;    // the certificate principal for login on target
  std::string fingerprint;  // the key the person logged in with
  bool allow_port_forwarding = false;
  std::string grant_id;        // the elevation grant the session runs under, if any
  Micros grant_ends_at = 0;    // ... and when it ends (certificates never outlive it)
  monitor::Accepted accepted;  // what the child was told
  struct Recording {
    std::string path;
    uint64_t next_offset = 0;  // where the next chunk digest must start
    bool ended = false;
    bool stream = false;                   // a byte-exact stream (else asciicast)
    recorder::ChunkDigests chunk_digests;  // over each chunk's SHA-256, in order: the final digest
    std::string index_path;                // terminals: the command index file the monitor created
  };
  std::map<uint32_t, Recording> recordings;  // by channel: the files the monitor created for it
  std::string step_up_code;                  // the step-up it waits for (a login's, or an approver's in command mode)
  Micros step_up_deadline = 0;
  nlohmann::json step_up_details;
  // Command mode: the approval the last verified step-up was for, and when;
  // it confirms that one approval only, once.
  std::string step_up_verified_for;
  Micros step_up_verified_at = 0;
  int certificates = 0;   // issued to this connection
  int auth_failures = 0;  // failed attempts the connection reported before authenticating
  Micros started_at = 0;
  Micros kill_deadline = 0;  // when to SIGKILL after a kill request
  // A session, or a login the monitor accepted pending its step-up: what
  // revocations (leavers, revoked keys, re-checks) must reach.
  [[nodiscard]] bool live_or_logging_in() const { return authenticated || state == ChildState::kStepUp; }
};

// A connection accepted while the pre-auth caps were reached: it waits for a
// slot (ChildTable::serve_waiting).
struct Waiting {
  UniqueFd client;
  std::string ip, group, port;
  Micros accepted_at = 0;
};

class ChildTable {
 public:
  using Map = std::map<int, ChildInfo>;

  ChildTable(const Config& cfg, const Clock& clock) : cfg_(cfg), clock_(clock) {}

  // The connection processes, by pid.
  void add(ChildInfo c);
  [[nodiscard]] ChildInfo* find(int pid);  // null: not one of ours
  void erase(int pid);
  [[nodiscard]] bool empty() const { return children_.empty(); }
  [[nodiscard]] size_t size() const { return children_.size(); }
  Map::iterator begin() { return children_.begin(); }
  Map::iterator end() { return children_.end(); }

  // Whether the pre-auth caps leave room for one more connection from `group`.
  [[nodiscard]] bool room_to_serve(const std::string& group) const;
  // Queues `w` for a slot, unless max_queued or max_queued_per_source is
  // reached: then false, and `w` (its connection) is dropped.
  bool wait(Waiting w);
  [[nodiscard]] size_t waiting() const { return waiting_.size(); }
  [[nodiscard]] size_t waiting_from(const std::string& group) const;
  // Hands waiting connections to `serve` as slots free up, oldest first
  // (a source at its cap does not hold up the others); closes those that
  // waited login_grace_time (all of them when `stopping`). `serve` normally
  // add()s a child; it must not change the queue.
  void serve_waiting(bool stopping, const std::function<void(Waiting)>& serve);

  // In a forked child: closes every channel and waiting connection.
  void abandon_after_fork();

 private:
  const Config& cfg_;
  const Clock& clock_;
  Map children_;
  std::deque<Waiting> waiting_;  // over the pre-auth caps, oldest first
};

}  // namespace bastion::gateway
