// SyslogForwarder: sends audit records, in sequence order, as RFC 5424
// messages over UDP or a Unix datagram socket, so a copy of the chain lives
// outside the gateway. Each message carries the record's seq and hash as
// structured data; checkpoint lines are sent as they are made.
//
// Contract: best effort (datagrams): forwarding never blocks or fails an
// access decision. Records are read from the database after they commit,
// so a record is forwarded only once it is part of the chain.
#pragma once

#include <string>

#include "common/database.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace bastion::recorder {

class SyslogForwarder {
 public:
  // `target`: "udp://HOST:PORT" or "unix:/dev/log".
  static Result<SyslogForwarder> open(const std::string& target);
  // Sends every record after the last one sent (starting from the newest at open).
  Status forward_new(Database& db);
  void send_line(const std::string& msgid, int severity, const std::string& text);
  static std::string format(int severity, const std::string& msgid, const std::string& structured,
                            const std::string& text, int64_t ts_micros);

 private:
  UniqueFd fd_;
  int64_t last_seq_ = -1;
};

}  // namespace bastion::recorder
