// ChannelState: the lifecycle of a ChannelPair as plain values, with no libssh
// types, so that tests drive it without sockets. The libssh callbacks call the
// on_* transitions (they only record what a peer said); the connection's loop
// asks the predicates, acts, and reports what it did (eof_forwarded, start,
// run, finish). Not thread-safe: one connection process, one thread.
#pragma once

namespace bastion::gateway {

// How far one direction of a pair has been half-closed.
enum class HalfClose {
  kOpen,          // the sender may still send data
  kEofReceived,   // the sender said EOF; the loop has not yet passed it on
  kEofForwarded,  // the loop passed the EOF on
};

// One direction of a pair, named by its sender: the client's bytes to the
// target, or the target's bytes to the client. CLOSE is kept beside the
// half-close rather than as one more HalfClose state because a peer may close
// at any point of it, and an EOF received before CLOSE must still be passed on
// (the target's EOF reaches the client before the exit status and CLOSE).
class Direction {
 public:
  // The sender said EOF. A repeated EOF changes nothing: it is passed on once.
  void on_eof();
  // The loop passed the sender's EOF on. Only after needs_eof_forwarded().
  void eof_forwarded();
  // The sender closed its channel.
  void on_close();

  [[nodiscard]] HalfClose half_close() const { return half_; }
  // The sender said EOF and the loop has not passed it on yet.
  [[nodiscard]] bool needs_eof_forwarded() const { return half_ == HalfClose::kEofReceived; }
  [[nodiscard]] bool closed() const { return closed_; }
  // The sender said EOF or CLOSE: it sends no more data.
  [[nodiscard]] bool ended() const { return half_ != HalfClose::kOpen || closed_; }

 private:
  HalfClose half_ = HalfClose::kOpen;
  bool closed_ = false;
};

// How far the loop has acted on the client's request for the channel.
enum class Stage {
  kNew,       // gathering the client's requests (pty, env, then one action)
  kStarting,  // the loop is acting on the action (a refused one stays here)
  kRunning,   // the action succeeded: bytes may flow
};

// The pair as a whole. Finishing is kept beside the stage rather than as one
// more Stage because the loop may finish a pair in any stage (the client
// closed before its request, a refusal, the end of the session) and a pair that
// ran is still serviced as running until its client channel is freed.
class ChannelState {
 public:
  Direction from_client;  // client -> target
  Direction from_target;  // target -> client

  // The loop acts on the client's action. Only from kNew.
  void start();
  // The action succeeded (the target's channel is open, or command mode).
  void run();
  // The loop ended the pair and closed the client's channel (after passing on
  // the exit status, when the target ended it). The pair is freed once that
  // close has completed.
  void finish();

  [[nodiscard]] Stage stage() const { return stage_; }
  // The loop has acted (or is acting) on the action: the client's pty and env
  // requests are refused from here on.
  [[nodiscard]] bool started() const { return stage_ != Stage::kNew; }
  [[nodiscard]] bool running() const { return stage_ == Stage::kRunning; }
  [[nodiscard]] bool finished() const { return finished_; }

  // The client's data goes to the target until the client's EOF has been
  // passed on; what the client sends after that stays unread in libssh (its
  // window is not re-opened).
  [[nodiscard]] bool forwards_to_target() const { return from_client.half_close() != HalfClose::kEofForwarded; }
  // The target's data goes to the client until the pair is finished; the
  // target's EOF does not stop it (libssh refuses a write after the EOF that
  // was passed on).
  [[nodiscard]] bool forwards_to_client() const { return !finished_; }
  // The target closed and the pair is not finished: finish it once the
  // target's data has reached the client. The target's EOF alone does not, as
  // its exit status comes between EOF and CLOSE.
  [[nodiscard]] bool ends_when_drained() const { return !finished_ && from_target.closed(); }
  // The client closed and the pair is not finished: close both sides now,
  // without waiting for anything.
  [[nodiscard]] bool abandoned_by_client() const { return !finished_ && from_client.closed(); }

 private:
  Stage stage_ = Stage::kNew;
  bool finished_ = false;
};

}  // namespace bastion::gateway
