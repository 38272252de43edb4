// SFTP version 3 (draft-ietf-secsh-filexfer-02, what OpenSSH speaks): the
// packet types, for the auditor (sftp_audit.cpp), the content replay
// (sftp_content.cpp) and their tests.
#pragma once

#include <cstdint>

namespace bastion::recorder::sftp {

enum : uint8_t {
  kInit = 1,
  kVersion = 2,
  kOpen = 3,
  kClose = 4,
  kRead = 5,
  kWrite = 6,
  kLstat = 7,
  kFstat = 8,
  kSetstat = 9,
  kFsetstat = 10,
  kOpendir = 11,
  kReaddir = 12,
  kRemove = 13,
  kMkdir = 14,
  kRmdir = 15,
  kRealpath = 16,
  kStat = 17,
  kRename = 18,
  kReadlink = 19,
  kSymlink = 20,
  kStatus = 101,
  kHandle = 102,
  kData = 103,
  kName = 104,
  kAttrs = 105,
  kExtended = 200,
  kExtendedReply = 201,
};

}  // namespace bastion::recorder::sftp
