#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (small valid and
near-valid inputs; libFuzzer mutates from these).

    fuzz/make_seeds.py            # rewrite every corpus
    fuzz/make_seeds.py --keys     # also regenerate the seeds made with new keys

The public key seeds are real OpenSSH key lines made with ssh-keygen; the
fuzz_sk_attestation keygen_* seeds are real ssh-keygen -O write-attestation
files from the software security key (build/tests/softkey, or
$BASTION_SOFTKEY_LIB); the fuzz_webauthn signed_* seeds carry signatures by
keys made with openssl. They are kept in the repository and only regenerated
with --keys (new random keys each time), or when missing. Everything else is
deterministic. Run from anywhere.
"""
import base64
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- SSH wire encoding (RFC 4251) -------------------------------------------

def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


# --- policy::parse_ingress_name ---------------------------------------------

def ingress_name():
    seeds = {
        "person": "alice",
        "proxy": "root@web-1",
        "proxy_dots": "deploy@db.prod.example",
        "two_at": "a@b@c",
        "no_login": "@web-1",
        "no_target": "root@",
        "leading_dash": "-oProxyCommand@x",
        "space": "root@web 1",
        "control": "root@web\x01",
        "utf8": "r\u00e9my",
        "max_name": "a" * 64 + "@" + "b" * 64,
        "too_long": "a" * 257,
    }
    for k, v in seeds.items():
        write("fuzz_ingress_name", k, v)


# --- policy::TargetSelector -------------------------------------------------
# SELECTOR [\n NAME \n LABEL \n VALUE \n CUSTOMER]

def selector():
    seeds = {
        "glob_star": "prod*\nprod-web-1",
        "glob_question": "db-?\ndb-1",
        "all": "*\nanything",
        "bracket": "web-[0-9][0-9]\nweb-42",
        "label": "env=prod\nweb-1\nenv\nprod\n",
        "label_glob": "env=pr*\nweb-1\nenv\nproduction\n",
        "customer": "customer=acme\nweb-1\n\n\nacme",
        "customer_glob": "customer=*\nweb-1\n\n\nacme",
        "bad_label": "-env=prod",
        "empty_value": "env=",
        "space": "prod web",
        "plain": "web-1",
    }
    for k, v in seeds.items():
        write("fuzz_selector", k, v)


# --- bastion::load_config ---------------------------------------------------

def default_config(listen):
    # Same keys and values as default_config_text() in common/config.cpp.
    return f"""# bastion gateway configuration
[gateway]
listen = "{listen}"
host_keys = ["ssh_host_ed25519_key"]
login_grace_time = "30s"
max_unauthenticated = 64
max_unauthenticated_per_source = 16
max_auth_attempts = 6
auth_backoff_after = 3
auth_backoff_max = "60s"
control_socket = "bastiond.sock"
kill_grace = "2s"
# public_name = "gw.example.com"

[state]
database = "bastion.db"
busy_timeout = "5s"

[ca]
user_ca_key = "user_ca_key"
certificate_validity = "5m"

[audit]
signing_key = "audit_signing_key"
checkpoint_interval = "60s"
checkpoint_records = 1000
retention_days = 400
# syslog = "udp://127.0.0.1:514"

[recording]
dir = "recordings"
record_input = true
flush_interval = "1s"
digest_interval = "10s"

[upstream]
connect_timeout = "10s"

[session]
env_allow = ["LANG", "LC_*"]

[elevation]
request_ttl = "1h"
max_grant = "8h"
break_glass_max = "30m"

[hr]
spool = "hr"
max_leaver_share = 0.1
leaver_floor = 2

[hr.departments]
SRE = ["ops"]
Support = ["support", "readonly"]
"""


def config():
    write("fuzz_config", "default", default_config("127.0.0.1:2200"))
    write("fuzz_config", "default_v6", default_config("[::1]:2222"))
    write("fuzz_config", "empty", "")
    write("fuzz_config", "minimal", '[gateway]\nlisten = "0.0.0.0:22"\n')
    write("fuzz_config", "state_dir", '[state]\ndir = "/var/lib/bastion"\ndatabase = "db/b.db"\n')
    write("fuzz_config", "durations",
          '[elevation]\nrequest_ttl = "1h30m"\nmax_grant = "2d"\nbreak_glass_max = "90s"\n'
          '[ca]\ncertificate_validity = "300s"\n')
    write("fuzz_config", "unknown_key", '[gateway]\nlisten = "127.0.0.1:2200"\nlisten_port = 22\n')
    write("fuzz_config", "unknown_section", '[gatway]\nlisten = "127.0.0.1:2200"\n')
    write("fuzz_config", "bad_types",
          '[gateway]\nmax_auth_attempts = "6"\nhost_keys = "k"\n[recording]\nrecord_input = 1\n')
    write("fuzz_config", "out_of_range",
          '[gateway]\nmax_auth_attempts = 101\n[hr]\nmax_leaver_share = 1.5\n[ca]\ncertificate_validity = "6m"\n')
    write("fuzz_config", "departments", '[hr.departments]\n"Research & Dev" = ["dev", "ops"]\nEmpty = []\n')
    write("fuzz_config", "inline_tables", '[hr]\ndepartments = { SRE = ["ops"] }\n[session]\nenv_allow = []\n')
    write("fuzz_config", "bad_toml", '[gateway\nlisten = "x\n')
    write("fuzz_config", "listen_first_line", "[::1]:2200\n")
    write("fuzz_config", "duration_first_line", '1h30m\n[elevation]\nmax_grant = "2h"\n')


# --- policy::parse_hr_file --------------------------------------------------
# First byte: '0' f.jsonl, '1' f.csv, '2' snapshot.csv, '3' snapshot.jsonl,
# '4' f.jsonl with parse_hr_json(snapshot=true).

def hr():
    jsonl = (
        '{"event_id":"hr-1","type":"leaver","employee_id":"E100"}\n'
        '{"event_id":"hr-2","type":"joiner","employee_id":"E200","username":"frank",'
        '"email":"frank@example.com","department":"SRE","effective_at":"2026-11-22T17:00:00Z"}\n'
        '{"event_id":"hr-3","type":"mover","employee_id":"E201","department":["SRE","Ops"],'
        '"effective_at":"2026-11-22T17:00:00.250Z","extra":{"x":1}}\n'
    )
    write("fuzz_hr", "events_jsonl", "0" + jsonl)
    write("fuzz_hr", "one_leaver", '0{"event_id":"hr-1","type":"leaver","employee_id":"E100"}')
    write("fuzz_hr", "bad_lines_jsonl",
          '0{"event_id":"hr-1","type":"quitter","employee_id":"E100"}\r\n'
          '{"event_id":"hr-1","type":"leaver","employee_id":"E100"}\n'
          '{"event_id":"hr-1","type":"leaver","employee_id":"E100"}\n'
          '{"event_id":"hr 2","type":"joiner","employee_id":"E1"}\n'
          '[1,2]\n{"event_id":5}\nnot json\n'
          '{"event_id":"hr-9","type":"leaver","employee_id":"E9","effective_at":"2026-02-31T25:00:00Z"}\n')
    write("fuzz_hr", "events_csv",
          "1event_id,type,employee_id,username,email,department,effective_at\n"
          "hr-2026-0101,joiner,E300,grace,grace@example.com,SRE,\n"
          'hr-2026-0102,mover,E201,,,"Support",\n'
          "hr-2026-0103,leaver,E100,alice,,,2026-11-22T17:00:00Z\n")
    write("fuzz_hr", "quoted_csv",
          '1 event_id , "type",employee_id,department\r\n'
          'hr-1,joiner,E1,"R&D, ""West"""\r\n'
          'hr-2,leaver,E2\r\n'
          'hr-3,leaver,"E3"x,\r\n'
          'hr-4,leaver,E"4,\r\n')
    write("fuzz_hr", "no_header_id", "1event_id,type\nhr-1,leaver\n")
    write("fuzz_hr", "snapshot_csv",
          "2employee_id,username,email,department\n"
          "E200,frank,frank@example.com,SRE\n"
          "E201,bob,bob@example.com,Support\n"
          "E300,grace,grace@example.com,SRE\n"
          "E300,grace2,,\n")
    write("fuzz_hr", "snapshot_jsonl",
          '3{"employee_id":"E200","username":"frank","department":"SRE"}\n'
          '{"employee_id":"E201"}\n')
    write("fuzz_hr", "json_snapshot_direct", '4{"employee_id":"E201","username":"bob"}')
    write("fuzz_hr", "csv_row", '1a,"b,c",,"d""e"')
    write("fuzz_hr", "long_line", "0" + '{"event_id":"hr-1","type":"leaver","employee_id":"' + "E" * 4100 + '"}\n')


# --- recorder::SftpAuditor --------------------------------------------------
# SFTP v3 packets: uint32 length, byte type, then the body. The fuzz input is
# a list of chunks: one header byte H (H & 0x80: server -> client, else
# client -> server; H & 0x7f: chunk length; 0: take_events()), then the bytes.

SSH_FXP_INIT, SSH_FXP_VERSION, SSH_FXP_OPEN, SSH_FXP_CLOSE = 1, 2, 3, 4
SSH_FXP_READ, SSH_FXP_WRITE, SSH_FXP_LSTAT, SSH_FXP_FSTAT, SSH_FXP_SETSTAT, SSH_FXP_FSETSTAT = 5, 6, 7, 8, 9, 10
SSH_FXP_OPENDIR, SSH_FXP_READDIR, SSH_FXP_REMOVE, SSH_FXP_MKDIR, SSH_FXP_RMDIR = 11, 12, 13, 14, 15
SSH_FXP_REALPATH, SSH_FXP_STAT, SSH_FXP_RENAME, SSH_FXP_READLINK, SSH_FXP_SYMLINK = 16, 17, 18, 19, 20
SSH_FXP_STATUS, SSH_FXP_HANDLE, SSH_FXP_DATA, SSH_FXP_NAME, SSH_FXP_ATTRS = 101, 102, 103, 104, 105
SSH_FXP_EXTENDED, SSH_FXP_EXTENDED_REPLY = 200, 201
FXF_READ, FXF_WRITE, FXF_APPEND, FXF_CREAT, FXF_TRUNC = 0x01, 0x02, 0x04, 0x08, 0x10


def pkt(ptype, body):
    return sstr(u8(ptype) + body)


def client(p):
    return ("c", p)


def server(p):
    return ("s", p)


def chunks(conversation, split=127):
    """Frames (direction, bytes) items as fuzz input, cut into chunks of at
    most `split` bytes (the auditor reassembles them)."""
    out = b""
    for direction, data in conversation:
        if direction == "take":
            out += u8(0)
            continue
        for i in range(0, len(data), split):
            part = data[i:i + split]
            out += u8((0x80 if direction == "s" else 0) | len(part)) + part
    return out


def status(req_id, code, msg=""):
    return server(pkt(SSH_FXP_STATUS, u32(req_id) + u32(code) + sstr(msg) + sstr("en")))


def sftp():
    init = [client(pkt(SSH_FXP_INIT, u32(3))), server(pkt(SSH_FXP_VERSION, u32(3)))]
    # init, open for writing, handle, two writes, close: open + close events.
    upload = init + [
        client(pkt(SSH_FXP_OPEN, u32(7) + sstr("/tmp/dump.sql") + u32(FXF_WRITE | FXF_CREAT | FXF_TRUNC) + u32(0))),
        server(pkt(SSH_FXP_HANDLE, u32(7) + sstr("H1"))),
        client(pkt(SSH_FXP_WRITE, u32(8) + sstr("H1") + u64(0) + sstr(b"x" * 100))),
        client(pkt(SSH_FXP_WRITE, u32(9) + sstr("H1") + u64(100) + sstr(b"y" * 20))),
        status(8, 0), status(9, 0),
        ("take", b""),
        client(pkt(SSH_FXP_CLOSE, u32(10) + sstr("H1"))),
        status(10, 0),
    ]
    write("fuzz_sftp", "upload", chunks(upload))
    # open for reading, read, data; channel ends without CLOSE (close_all).
    download = init + [
        client(pkt(SSH_FXP_OPEN, u32(1) + sstr("/etc/hosts") + u32(FXF_READ) + u32(0))),
        server(pkt(SSH_FXP_HANDLE, u32(1) + sstr("HH"))),
        client(pkt(SSH_FXP_READ, u32(2) + sstr("HH") + u64(0) + u32(4096))),
        server(pkt(SSH_FXP_DATA, u32(2) + sstr(b"127.0.0.1 localhost\n"))),
        client(pkt(SSH_FXP_READ, u32(3) + sstr("HH") + u64(20) + u32(4096))),
        status(3, 1, "EOF"),
    ]
    write("fuzz_sftp", "download_no_close", chunks(download, split=5))
    # remove, mkdir, rmdir, setstat, fsetstat, rename, symlink, posix-rename.
    ops = init + [
        client(pkt(SSH_FXP_REMOVE, u32(11) + sstr("/tmp/a"))), status(11, 0),
        client(pkt(SSH_FXP_MKDIR, u32(12) + sstr("/tmp/d") + u32(0))), status(12, 4, "Failure"),
        client(pkt(SSH_FXP_RMDIR, u32(13) + sstr("/tmp/d"))), status(13, 2, ""),
        client(pkt(SSH_FXP_SETSTAT, u32(14) + sstr("/tmp/b") + u32(4) + u32(0o600))), status(14, 0),
        client(pkt(SSH_FXP_OPEN, u32(15) + sstr("/tmp/rw") + u32(FXF_READ | FXF_WRITE) + u32(0))),
        server(pkt(SSH_FXP_HANDLE, u32(15) + sstr("H2"))),
        client(pkt(SSH_FXP_FSETSTAT, u32(16) + sstr("H2") + u32(0))), status(16, 0),
        client(pkt(SSH_FXP_RENAME, u32(17) + sstr("/tmp/x") + sstr("/tmp/y"))), status(17, 0),
        client(pkt(SSH_FXP_SYMLINK, u32(18) + sstr("/tmp/l") + sstr("/etc/passwd"))), status(18, 3, "denied"),
        client(pkt(SSH_FXP_EXTENDED, u32(19) + sstr("posix-rename@openssh.com") + sstr("/tmp/p") + sstr("/tmp/q"))),
        status(19, 0),
        client(pkt(SSH_FXP_EXTENDED, u32(20) + sstr("statvfs@openssh.com") + sstr("/"))),
        client(pkt(SSH_FXP_CLOSE, u32(21) + sstr("H2"))), status(21, 0),
    ]
    write("fuzz_sftp", "file_operations", chunks(ops, split=64))
    # Malformed: a zero length, a truncated OPEN, a length over the limit.
    write("fuzz_sftp", "zero_length", chunks(init + [client(u32(0) + b"\x03")]))
    write("fuzz_sftp", "truncated_open", chunks(init + [client(pkt(SSH_FXP_OPEN, u32(1) + u32(50) + b"/tmp"))]))
    write("fuzz_sftp", "too_large", chunks([client(u32(300 * 1024) + u8(SSH_FXP_WRITE) + b"\x00" * 40)]))
    write("fuzz_sftp", "unknown_response", chunks(init + [status(99, 0), server(pkt(SSH_FXP_HANDLE, u32(5) + sstr("Z")))]))
    sftp_issue13(init)


def ext(req_id, name, args=b""):
    return client(pkt(SSH_FXP_EXTENDED, u32(req_id) + sstr(name) + args))


def name_reply(req_id, name):
    return server(pkt(SSH_FXP_NAME, u32(req_id) + u32(1) + sstr(name) + sstr("-rw-r--r-- " + name) + u32(0)))


def sftp_issue13(init):
    """Metadata requests, every allow-listed extension, and the evasions of
    issue 13 (a reused request id, READ|CREAT|TRUNC, a refused extension)."""
    ok = lambda i: status(i, 0)
    meta = init + [
        client(pkt(SSH_FXP_REALPATH, u32(1) + sstr("."))), name_reply(1, "/home/alice"),
        client(pkt(SSH_FXP_STAT, u32(2) + sstr("/etc"))), server(pkt(SSH_FXP_ATTRS, u32(2) + u32(4) + u32(0o40755))),
        client(pkt(SSH_FXP_LSTAT, u32(3) + sstr("/etc/l"))), status(3, 2, "No such file"),
        client(pkt(SSH_FXP_READLINK, u32(4) + sstr("/etc/l"))), name_reply(4, "/etc/passwd"),
        client(pkt(SSH_FXP_OPENDIR, u32(5) + sstr("/root"))), server(pkt(SSH_FXP_HANDLE, u32(5) + sstr("D"))),
        client(pkt(SSH_FXP_READDIR, u32(6) + sstr("D"))), name_reply(6, ".bashrc"),
        client(pkt(SSH_FXP_READDIR, u32(7) + sstr("D"))), status(7, 1, "EOF"),
        client(pkt(SSH_FXP_CLOSE, u32(8) + sstr("D"))), ok(8),
        client(pkt(SSH_FXP_OPEN, u32(9) + sstr("/tmp/f") + u32(FXF_READ | FXF_WRITE | FXF_APPEND) + u32(0))),
        server(pkt(SSH_FXP_HANDLE, u32(9) + sstr("F"))),
        client(pkt(SSH_FXP_FSTAT, u32(10) + sstr("F"))), server(pkt(SSH_FXP_ATTRS, u32(10) + u32(1) + u64(5))),
        client(pkt(SSH_FXP_FSETSTAT, u32(11) + sstr("F") + u32(2) + u32(0) + u32(0))), ok(11),
        ("take", b""),
    ]
    exts = [
        ext(20, "posix-rename@openssh.com", sstr("/a") + sstr("/b")), ok(20),
        ext(21, "hardlink@openssh.com", sstr("/etc/shadow") + sstr("/tmp/s")), ok(21),
        ext(22, "fsync@openssh.com", sstr("F")), ok(22),
        ext(23, "statvfs@openssh.com", sstr("/")), server(pkt(SSH_FXP_EXTENDED_REPLY, u32(23) + u64(1))),
        ext(24, "fstatvfs@openssh.com", sstr("F")), server(pkt(SSH_FXP_EXTENDED_REPLY, u32(24) + u64(1))),
        ext(25, "lsetstat@openssh.com", sstr("/usr/bin/x") + u32(4) + u32(0o4755)), ok(25),
        ext(26, "limits@openssh.com"), server(pkt(SSH_FXP_EXTENDED_REPLY, u32(26) + u64(1) * 4)),
        ext(27, "expand-path@openssh.com", sstr("~/x")), name_reply(27, "/home/alice/x"),
        ext(28, "copy-data", sstr("F") + u64(0) + u64(0) + sstr("F") + u64(10)), ok(28),
        ext(29, "home-directory", sstr("root")), name_reply(29, "/root"),
        ext(30, "users-groups-by-id@openssh.com", sstr(u32(0) + u32(1000)) + sstr(u32(0))),
        server(pkt(SSH_FXP_EXTENDED_REPLY, u32(30) + sstr(sstr("root") + sstr("alice")) + sstr(sstr("root")))),
        client(pkt(SSH_FXP_CLOSE, u32(31) + sstr("F"))), ok(31),
    ]
    write("fuzz_sftp", "metadata_and_extensions", chunks(meta + exts, split=100))
    write("fuzz_sftp", "reused_request_id", chunks(init + [
        client(pkt(SSH_FXP_OPEN, u32(7) + sstr("/etc/shadow") + u32(FXF_READ) + u32(0))),
        client(pkt(SSH_FXP_READ, u32(7) + sstr("bogus") + u64(0) + u32(4096))),
        server(pkt(SSH_FXP_HANDLE, u32(7) + sstr("H"))),
    ]))
    write("fuzz_sftp", "read_creat_trunc", chunks(init + [
        client(pkt(SSH_FXP_OPEN, u32(1) + sstr("/etc/passwd") + u32(FXF_READ | FXF_CREAT | FXF_TRUNC) + u32(0))),
        server(pkt(SSH_FXP_HANDLE, u32(1) + sstr("H"))),
    ]))
    write("fuzz_sftp", "refused_extension", chunks(init + [ext(1, "chown-everything@example.com", sstr("/"))]))


# --- recorder::parse_cast / search_cast -------------------------------------
# NEEDLE \n then an asciicast v2 file: a header object, then [time, kind, data].

CAST_HEADER = ('{"version":2,"width":80,"height":24,"timestamp":1763830800,'
               '"env":{"SHELL":"/bin/bash","TERM":"xterm-256color"},"title":"root@web-1"}')


def cast():
    events = [
        '[0.1,"o","hi there\\r\\n"]',
        '[0.5,"i","ls\\r"]',
        '[0.6,"o","\\u001b[1;32mfile.txt\\u001b[0m  secret.txt\\r\\n"]',
        '[1.25,"r","100x40"]',
        '[2,"o","$ exit\\r\\n"]',
    ]
    body = CAST_HEADER + "\n" + "\n".join(events) + "\n"
    write("fuzz_cast", "session", "secret\n" + body)
    write("fuzz_cast", "header_only", "x\n" + CAST_HEADER + "\n")
    write("fuzz_cast", "cut_off", "hi\n" + CAST_HEADER + "\n" + events[0] + '\n[0.7,"o","trunc')
    write("fuzz_cast", "escapes", "a\n" + '{"version":2}\n[0,"o","\\u001b]0;title\\u0007a\\u001bcb\\ta"]\n')
    write("fuzz_cast", "version1", "hi\n" + '{"version":1,"width":80,"height":24,"stdout":[]}\n')
    write("fuzz_cast", "bad_event", "hi\n" + CAST_HEADER + '\n["0.1","o","hi"]\n')
    write("fuzz_cast", "empty_needle", "\n" + CAST_HEADER + '\n[0.1,"o","abc"]\n')


def stream_header(compression):
    return ('{"format":"bastion-stream","version":1,"session":"s-1","channel":1,"command":"cat backup.bin",'
            '"started_at":1763830800000000,"compression":"%s","encryption":"none"}\n' % compression).encode()


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def stream_records(*records):
    return b"".join(bytes([sid]) + uvarint(at) + uvarint(len(data)) + data for sid, at, data in records)


def stream_block(payload):
    return len(payload).to_bytes(4, "big") + payload


def zstd_frame(payload):
    """One zstd frame with its content size and checksum (the zstd CLI), or None without it."""
    import shutil
    import subprocess
    import tempfile
    if shutil.which("zstd") is None:
        return None
    with tempfile.NamedTemporaryFile() as f:
        f.write(payload)
        f.flush()
        return subprocess.run(["zstd", "-q", "-c", "--content-size", "--check", f.name],
                              check=True, capture_output=True).stdout


def stream():
    recs = stream_records((1, 10, bytes(range(256))), (2, 20, b"err\xff\n"), (0, 30, b"\x00in"))
    write("fuzz_stream", "plain", stream_header("none") + stream_block(recs) + stream_block(recs))
    write("fuzz_stream", "partial_record", stream_header("none") + stream_block(recs) + stream_block(recs[:7]))
    write("fuzz_stream", "cut_off", stream_header("none") + stream_block(recs)[:-3])
    write("fuzz_stream", "bad_stream_id", stream_header("none") + stream_block(b"\x07\x00\x01x"))
    write("fuzz_stream", "overlong_varint", stream_header("none") + stream_block(b"\x01" + b"\xff" * 11))
    write("fuzz_stream", "huge_length", stream_header("none") + b"\x7f\xff\xff\xff")
    write("fuzz_stream", "header_only", stream_header("zstd"))
    frame = zstd_frame(recs)
    if frame is not None:
        write("fuzz_stream", "zstd", stream_header("zstd") + stream_block(frame) + stream_block(frame))
# --- recorder::CommandIndexer / parse_command_index --------------------------
# COLS ROWS, then records OP LEN BYTES (OP % 4: 0 output, 1 input, 2 resize
# with LEN the cols and one byte of rows, 3 finish), as bash 5.2 sends them.

def command_index():
    prompt = b"\x1b[?2004h\x1b[01;32muser@host\x1b[00m:~$ "
    enter_echo = b"\r\n\x1b[?2004l\r"

    def rec(op, data=b""):
        return bytes([op, len(data)]) + data

    def typed(text):
        return b"".join(rec(1, bytes([c])) + rec(0, bytes([c])) for c in text)

    t = "fuzz_command_index"
    write(t, "plain", bytes([80, 24]) + rec(0, prompt) + typed(b"echo hi") + rec(1, b"\r") +
          rec(0, enter_echo + b"hi\r\n") + rec(0, prompt))
    write(t, "tab_backspace", bytes([40, 10]) + rec(0, prompt) + typed(b"ech") + rec(1, b"\t") + rec(0, b"o ") +
          typed(b"lsx") + rec(1, b"\x7f") + rec(0, b"\b\x1b[K") + rec(1, b"\r") + rec(0, enter_echo))
    write(t, "alt_screen", bytes([80, 24]) + rec(0, prompt) + typed(b"less f") + rec(1, b"\r") +
          rec(0, enter_echo + b"\x1b[?1049h\x1b[Hpage") + rec(1, b"\r") + rec(0, b"\x1b[?1049l") + rec(3))
    write(t, "paste_resize", bytes([20, 4]) + rec(0, prompt) + rec(1, b"\x1b[200~echo a\rb\x1b[201~") +
          rec(0, b"echo a\r\nb") + bytes([2, 100, 30]) + rec(1, b"\r") + rec(0, enter_echo))
    write(t, "index_file", b'{"format":"bastion-command-index","version":1}\n{"t":1.5,"cmd":"ls"}\n')


# --- authn::parse_public_key_line / validate_key_blob -----------------------

def public_key(regen_keys):
    d = os.path.join(CORPUS, "fuzz_public_key")
    have = os.path.isdir(d) and any(n.startswith("keygen_") for n in os.listdir(d))
    if regen_keys or not have:
        with tempfile.TemporaryDirectory() as tmp:
            for name, args in [("ed25519", ["-t", "ed25519"]), ("ecdsa", ["-t", "ecdsa", "-b", "256"]),
                               ("rsa2048", ["-t", "rsa", "-b", "2048"]), ("ecdsa384", ["-t", "ecdsa", "-b", "384"]),
                               ("rsa1024", ["-t", "rsa", "-b", "1024"])]:
                path = os.path.join(tmp, name)
                subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", f"{name}@fuzz", "-f", path] + args,
                               check=True, stdin=subprocess.DEVNULL)
                with open(path + ".pub") as f:
                    write("fuzz_public_key", "keygen_" + name, f.read())

    def line_of(name):
        with open(os.path.join(d, "keygen_" + name)) as f:
            return f.read().split()

    ed_type, ed_b64 = line_of("ed25519")[:2]
    ec_type, ec_b64 = line_of("ecdsa")[:2]
    ed_blob = base64.b64decode(ed_b64)
    ec_blob = base64.b64decode(ec_b64)
    # Security-key (FIDO) keys, built by hand: the key fields plus an application.
    sk_ed = sstr("sk-ssh-ed25519@openssh.com") + ed_blob[len(sstr(ed_type)):] + sstr("ssh:")
    sk_ec = sstr("sk-ecdsa-sha2-nistp256@openssh.com") + ec_blob[len(sstr(ec_type)):] + sstr("ssh:bastion")
    write("fuzz_public_key", "sk_ed25519", "sk-ssh-ed25519@openssh.com " + base64.b64encode(sk_ed).decode() + " alice@yubikey\n")
    write("fuzz_public_key", "sk_ecdsa", "sk-ecdsa-sha2-nistp256@openssh.com " + base64.b64encode(sk_ec).decode())
    write("fuzz_public_key", "type_mismatch", "ssh-rsa " + ed_b64 + " wrong type\n")
    write("fuzz_public_key", "trailing_bytes", "ssh-ed25519 " + base64.b64encode(ed_blob + b"\0").decode() + "\n")
    write("fuzz_public_key", "tabs_cr", "\tssh-ed25519\t" + ed_b64 + "\tcomment with spaces \r\n")
    write("fuzz_public_key", "bad_base64", "ssh-ed25519 AAAA=C3NzaC1lZDI1NTE5 x")
    write("fuzz_public_key", "unsupported", "ssh-dss AAAAB3NzaC1kc3MAAACBAP x")
    # Raw wire blobs (for validate_key_blob).
    write("fuzz_public_key", "blob_ed25519", ed_blob)
    write("fuzz_public_key", "blob_ecdsa", ec_blob)
    write("fuzz_public_key", "blob_sk_ed25519", sk_ed)


# --- authn::known_host_keys: "HOST PORT" line, then a known_hosts file -------

def known_hosts():
    d = os.path.join(CORPUS, "fuzz_public_key")
    with open(os.path.join(d, "keygen_ed25519")) as f:
        ed = " ".join(f.read().split()[:2])
    with open(os.path.join(d, "keygen_ecdsa")) as f:
        ec = " ".join(f.read().split()[:2])
    t = "fuzz_known_hosts"
    write(t, "plain", "db1.example.com 22\n# comment\ndb1.example.com,10.0.0.1 " + ed + " c\n")
    write(t, "port", "10.0.0.1 2222\n[10.0.0.1]:2222 " + ed + "\n10.0.0.1 " + ec + "\n")
    write(t, "wildcards", "db9.prod.example.com 22\n*.prod.example.com,!db9.prod.example.com " + ed +
          "\ndb?.prod.example.com " + ec + "\n")
    write(t, "markers", "db1 22\n@cert-authority * " + ec + "\ndb1 " + ed + "\ndb1 " + ec + "\n@revoked * " + ec +
          "\n@other db1 " + ed + "\n")
    # "db1.example.com" hashed with salt 16 zero bytes (HMAC-SHA1), as ssh-keygen -H writes it.
    import hmac, hashlib
    salt = bytes(16)
    h = hmac.new(salt, b"db1.example.com", hashlib.sha1).digest()
    write(t, "hashed", "db1.example.com 22\n|1|" + base64.b64encode(salt).decode() + "|" +
          base64.b64encode(h).decode() + " " + ed + "\n|1|%%%|x " + ec + "\n")
    write(t, "bad_key", "db1 22\ndb1 ssh-ed25519 AAAA\nother ssh-ed25519 !!!\n")


# --- authn::UserCa (FuzzedDataProvider input: any bytes) --------------------

def user_ca():
    for i in range(6):
        data = b""
        seed = b"bastion-user-ca-%d" % i
        while len(data) < 96 + 64 * i:
            seed = hashlib.sha256(seed).digest()
            data += seed
        write("fuzz_user_ca", "bytes_%d" % i, data)
    # Readable text, so strings come out as words.
    write("fuzz_user_ca", "text", "root deploy permit-pty permit-port-forwarding force-command /bin/true "
                                  "bastion person=alice session=s-1 " * 3)


# --- gateway::split_words ---------------------------------------------------

def split_words():
    seeds = {
        "request": 'request web-1 root 1h "disk full on /var"',
        "approve": "approve r-17 'looks fine'",
        "escapes": r"deny r-3 it\'s\ not\ needed",
        "double_escapes": r'request db "say \"hi\" \\ now"',
        "unterminated": 'request "web-1',
        "unterminated_single": "approve 'r-1",
        "whitespace": " \t help \r\n",
        "empty_words": "'' \"\" x",
        "trailing_backslash": "grants \\",
        "help": "help",
    }
    for k, v in seeds.items():
        write("fuzz_split_words", k, v)


# --- base64 and WireReader --------------------------------------------------
# The whole input is base64 text; and, read as wire data, byte 0 is the read
# program (2 bits per read: 0 u8, 1 u32, 2 u64, 3 string/text).

def wire():
    write("fuzz_wire", "base64", "c3NoLWVkMjU1MTk=")
    write("fuzz_wire", "base64_pad2", "QQ==")
    write("fuzz_wire", "base64_nonzero_bits", "QR==")
    write("fuzz_wire", "base64_bad", "QQ=A")
    write("fuzz_wire", "base64_long", base64.b64encode(bytes(range(200))).decode())
    # program 0xff: string, text, string, text...
    write("fuzz_wire", "strings", b"\xff" + sstr("ssh-ed25519") + sstr(b"\x01" * 32) + sstr("") + sstr("x"))
    # program 0b11100100 = 0xe4: u8, u32, u64, string.
    write("fuzz_wire", "mixed", b"\xe4" + u8(7) + u32(1) + u64(2**63) + sstr("tail"))
    write("fuzz_wire", "truncated_string", b"\xff" + u32(100) + b"short")
    write("fuzz_wire", "huge_length", b"\xff" + u32(0xffffffff) + b"x")


# --- FIDO: shared helpers ---------------------------------------------------
# Both FIDO targets cut their input into parts at FIDO_SEP (after a mode
# byte). Seeds that carry signatures need fresh keys, so, like the ssh-keygen
# key lines, they are written once and only regenerated with --keys.

FIDO_SEP = b"-=8<=-"
REPO = os.path.dirname(HERE)
SEED_AAGUID = "b0a57e11-5e1f-4b0a-9a11-000000000001"
SK_AAGUID = "00112233-4455-6677-8899-aabbccddeeff"


def has_seeds(target, prefix):
    d = os.path.join(CORPUS, target)
    return os.path.isdir(d) and any(n.startswith(prefix) for n in os.listdir(d))


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], check=True, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout


def attestation_ca(tmp, aaguid):
    """A CA and an attestation leaf it issued (with the FIDO AAGUID
    extension, as a vendor's); returns (leaf key path, leaf PEM path)."""
    ca_key, ca_pem = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, csr, pem = os.path.join(tmp, "att.key"), os.path.join(tmp, "att.csr"), os.path.join(tmp, "att.pem")
    ext = os.path.join(tmp, "att.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "1.3.6.1.4.1.45724.1.1.4=DER:04:10:" + bytes.fromhex(aaguid.replace("-", "")).hex(":") + "\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_pem, "-subj", "/CN=bastion seed attestation CA",
            "-days", "3650")
    openssl("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj",
            "/C=XX/O=bastion test/OU=Authenticator Attestation/CN=bastion seed authenticator")
    openssl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-set_serial", "7", "-days", "3650",
            "-extfile", ext, "-out", pem)
    return key, pem


def pem_to_der(path):
    return openssl("x509", "-in", path, "-outform", "DER")


# --- authn::verify_sk_attestation -------------------------------------------
# Byte 0: the key (& 3: 0 fixed sk-ssh-ed25519, 1 fixed sk-ecdsa, 2 KEY_BLOB;
# 0x80: the challenge is also passed as an extra certificate), then
# BLOB [SEP CHALLENGE [SEP KEY_BLOB]].

SK_CHALLENGE = b"a relying party's enrollment challenge"


def sk_blob(cert, sig, authdata_cbor, flags=0, reserved=b""):
    return sstr("ssh-sk-attest-v01") + sstr(cert) + sstr(sig) + sstr(authdata_cbor) + u32(flags) + sstr(reserved)


def sk_attestation(regen_keys):
    t = "fuzz_sk_attestation"
    lib = os.environ.get("BASTION_SOFTKEY_LIB", os.path.join(REPO, "build", "tests", "softkey", "libbastion-softkey.so"))
    if (regen_keys or not has_seeds(t, "keygen_")) and not os.path.exists(lib):
        print(f"make_seeds.py: {lib} is missing (build the project, or set BASTION_SOFTKEY_LIB): "
              "no ssh-keygen attestation seeds", file=sys.stderr)
    elif regen_keys or not has_seeds(t, "keygen_"):
        with tempfile.TemporaryDirectory() as tmp:
            att_key, att_pem = attestation_ca(tmp, SK_AAGUID)
            challenge = os.path.join(tmp, "challenge")
            with open(challenge, "wb") as f:
                f.write(SK_CHALLENGE)
            attesting = {"BASTION_SOFTKEY_ATTEST_KEY": att_key, "BASTION_SOFTKEY_ATTEST_CERT": att_pem,
                         "BASTION_SOFTKEY_AAGUID": SK_AAGUID, "BASTION_SOFTKEY_FLAGS": "up,uv"}
            # (name, ssh-keygen -t, mode byte, application, attested)
            for name, ktype, mode, app, attested in [
                    ("ed25519", "ed25519-sk", 0, None, True),
                    ("ecdsa", "ecdsa-sk", 1, None, True),
                    ("ed25519_own_key", "ed25519-sk", 2, "ssh:bastion-test", True),
                    ("ecdsa_own_key", "ecdsa-sk", 0x80 | 2, "ssh:bastion-test", True),
                    ("ed25519_unattested", "ed25519-sk", 2, None, False)]:
                key = os.path.join(tmp, "key_" + name)
                out = os.path.join(tmp, "att_" + name)
                argv = ["ssh-keygen", "-q", "-t", ktype, "-w", lib, "-N", "", "-C", "", "-f", key,
                        "-O", "challenge=" + challenge, "-O", "write-attestation=" + out]
                if app:
                    argv += ["-O", "application=" + app]
                env = dict(os.environ)
                env.update(attesting if attested else {})
                subprocess.run(argv, check=True, env=env, stdin=subprocess.DEVNULL)
                with open(out, "rb") as f:
                    blob = f.read()
                with open(key + ".pub") as f:
                    key_blob = base64.b64decode(f.read().split()[1])
                seed = u8(mode) + blob + FIDO_SEP + SK_CHALLENGE
                if mode & 3 == 2:
                    seed += FIDO_SEP + key_blob
                write(t, "keygen_" + name, seed)
                if name == "ed25519_own_key":
                    write(t, "keygen_wrong_challenge", u8(mode) + blob + FIDO_SEP + b"another challenge" + FIDO_SEP + key_blob)
                    write(t, "keygen_wrong_key", u8(0) + blob + FIDO_SEP + SK_CHALLENGE)

    # Deterministic ones: no signature, so they stop early, but reach the
    # certificate, AAGUID and wire parsing.
    yubico = pem_to_der(os.path.join(REPO, "authn", "testdata", "yubico-u2f-ee-serial-413943488.sample.pem"))
    authdata = bytes(32) + b"\x45" + u32(1) + bytes.fromhex(SK_AAGUID.replace("-", "")) + b"\x00\x04cred"
    authdata_cbor = b"\x58" + u8(len(authdata)) + authdata
    write(t, "yubico_cert", u8(0x80) + sk_blob(yubico, b"\x30\x06\x02\x01\x01\x02\x01\x01", authdata_cbor)
          + FIDO_SEP + b"cb69481e-8ff7-4039-93ec-0a2729a154a8")
    write(t, "empty_cert", u8(1) + sk_blob(b"", b"", authdata_cbor) + FIDO_SEP + SK_CHALLENGE)
    write(t, "truncated", u8(0) + sstr("ssh-sk-attest-v01") + sstr(yubico[:100]))
    write(t, "trailing", u8(1) + sk_blob(yubico, b"sig", authdata_cbor) + b"\x00" + FIDO_SEP + SK_CHALLENGE)
    write(t, "wrong_magic", u8(0) + sstr("ssh-sk-attest-v00") + sstr(yubico) + FIDO_SEP + SK_CHALLENGE)
    write(t, "authdata_not_bytes", u8(0) + sk_blob(yubico, b"sig", cbor([1, 2])) + FIDO_SEP + SK_CHALLENGE)
    write(t, "empty_challenge", u8(0) + sk_blob(yubico, b"sig", authdata_cbor) + FIDO_SEP)
    write(t, "aaguid_upper", u8(0) + b"x" + FIDO_SEP + SK_AAGUID.upper().encode())
    write(t, "aaguid_no_dashes", u8(2) + b"x" + FIDO_SEP + b"00112233445566778899aabbccddeeff" + FIDO_SEP
          + b"-cb69481e-8ff7-4039-93ec-0a2729a154a8-")
    write(t, "rsa_key", u8(2) + sk_blob(yubico, b"sig", authdata_cbor) + FIDO_SEP + SK_CHALLENGE + FIDO_SEP
          + sstr("ssh-rsa") + sstr(b"\x01\x00\x01") + sstr(b"\x00" + b"\xc5" * 128))


# --- authn::verify_registration / verify_assertion, base64url, UTF-8 --------
# Byte 0: the mode (% 4: 0 registration CDJ SEP ATT; 1 and 2 assertion with
# the target's fixed ES256 and EdDSA credentials CDJ SEP AUTH_DATA SEP SIG
# [SEP CREDENTIAL_ID]; 3 registration then assertion with its credential;
# 0x80: no attestation trust). The relying party is the target's.

RP_ID = "gw.example.com"
ORIGIN = "https://gw.example.com:8443"
CHALLENGE = b"\x5a" * 32
CREDENTIAL_ID = b"cred-0123456789abcdef"
# The P-256 generator: a valid point for unsigned credentials.
P256_G = bytes.fromhex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                       "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
UP, UV, AT = 0x01, 0x04, 0x40


def cbor_head(major, n):
    if n < 24:
        return u8(major << 5 | n)
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return u8(major << 5 | info) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor(v):
    """Minimal CBOR encoder: bool, int, bytes, str, list, dict (in order)."""
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v) if v >= 0 else cbor_head(1, -1 - v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        return cbor_head(3, len(v.encode())) + v.encode()
    if isinstance(v, list):
        return cbor_head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def client_data(kind, challenge=CHALLENGE, origin=ORIGIN, extra=""):
    return ('{"type":"%s","challenge":"%s","origin":"%s","crossOrigin":false%s}'
            % (kind, b64url(challenge), origin, extra)).encode()


def cose_es256(point64):
    return cbor({1: 2, 3: -7, -1: 1, -2: point64[:32], -3: point64[32:]})


def cose_eddsa(raw32):
    return cbor({1: 1, 3: -8, -1: 6, -2: raw32})


def auth_data(flags=UP | UV, counter=0, cose_key=None, aaguid=SEED_AAGUID, cred_id=CREDENTIAL_ID, rp_id=RP_ID):
    ad = hashlib.sha256(rp_id.encode()).digest() + u8(flags | (AT if cose_key else 0)) + u32(counter)
    if cose_key:
        ad += bytes.fromhex(aaguid.replace("-", "")) + struct.pack(">H", len(cred_id)) + cred_id + cose_key
    return ad


def att_object(fmt, ad, stmt=None):
    return cbor({"fmt": fmt, "attStmt": stmt or {}, "authData": ad})


class SeedKey:
    """An OpenSSL key in a temp dir: its COSE key and signatures."""

    def __init__(self, tmp, name, eddsa):
        self.path = os.path.join(tmp, name + ".pem")
        self.eddsa = eddsa
        if eddsa:
            openssl("genpkey", "-algorithm", "ed25519", "-out", self.path)
        else:
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.path)
        spki = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")
        self.raw = spki[-32:] if eddsa else spki[-64:]  # EC: the point after 0x04

    def cose(self):
        return cose_eddsa(self.raw) if self.eddsa else cose_es256(self.raw)

    def sign(self, data):
        if not self.eddsa:
            return openssl("dgst", "-sha256", "-sign", self.path, data=data)
        tbs = self.path + ".tbs"
        with open(tbs, "wb") as f:
            f.write(data)
        return openssl("pkeyutl", "-sign", "-rawin", "-inkey", self.path, "-in", tbs)


def sha256(b):
    return hashlib.sha256(b).digest()


def joined(mode, *parts):
    return u8(mode) + FIDO_SEP.join(parts)


def webauthn_signed(tmp):
    t = "fuzz_webauthn"
    create = client_data("webauthn.create")
    get = client_data("webauthn.get")
    leaf_key_path, leaf_pem = attestation_ca(tmp, SEED_AAGUID)
    leaf = SeedKey.__new__(SeedKey)
    leaf.path, leaf.eddsa = leaf_key_path, False
    leaf_der = pem_to_der(leaf_pem)
    es, ed = SeedKey(tmp, "es", False), SeedKey(tmp, "ed", True)

    # Packed, full attestation: the signature verifies, the root is not trusted.
    for name, key, mode in (("signed_reg_packed_es256", es, 0), ("signed_reg_packed_eddsa_no_trust", ed, 0x80)):
        ad = auth_data(counter=3, cose_key=key.cose())
        stmt = {"alg": -7, "sig": leaf.sign(ad + sha256(create)), "x5c": [leaf_der]}
        write(t, name, joined(mode, create, att_object("packed", ad, stmt)))
    # Packed self attestation (no x5c): taken as "none".
    ad = auth_data(cose_key=ed.cose())
    write(t, "signed_reg_packed_self_eddsa",
          joined(0, create, att_object("packed", ad, {"alg": -8, "sig": ed.sign(ad + sha256(create))})))
    # FIDO U2F: signature over 0x00 || rpIdHash || clientDataHash || credId || 0x04 x y.
    ad = auth_data(cose_key=es.cose(), aaguid="00" * 16)
    u2f = b"\x00" + sha256(RP_ID.encode()) + sha256(create) + CREDENTIAL_ID + b"\x04" + es.raw
    write(t, "signed_reg_fido_u2f", joined(0, create, att_object("fido-u2f", ad, {"sig": leaf.sign(u2f), "x5c": [leaf_der]})))
    # Assertions with keys the target does not know.
    for name, key, mode in (("signed_assert_es256", es, 1), ("signed_assert_eddsa", ed, 2)):
        ad = auth_data(counter=9)
        write(t, name, joined(mode, get, ad, key.sign(ad + sha256(get))))
    ad = auth_data(counter=9)
    write(t, "signed_assert_own_id", joined(1, get, ad, es.sign(ad + sha256(get)), b"another credential"))
    # Registration, then a valid assertion with the registered key.
    for name, key, reg_counter, counter, fmt in (("signed_flow_es256", es, 0, 1, "none"),
                                                 ("signed_flow_eddsa_packed_self", ed, 3, 7, "packed"),
                                                 ("signed_flow_counter_zero", es, 0, 0, "none"),
                                                 ("signed_flow_counter_regression", ed, 10, 4, "none")):
        reg_ad = auth_data(counter=reg_counter, cose_key=key.cose())
        stmt = {"alg": -8 if key.eddsa else -7, "sig": key.sign(reg_ad + sha256(create))} if fmt == "packed" else {}
        ad = auth_data(counter=counter)
        write(t, name, joined(3, create, att_object(fmt, reg_ad, stmt), get, ad, key.sign(ad + sha256(get))))


def webauthn(regen_keys):
    t = "fuzz_webauthn"
    if regen_keys or not has_seeds(t, "signed_"):
        with tempfile.TemporaryDirectory() as tmp:
            webauthn_signed(tmp)
    create = client_data("webauthn.create")
    get = client_data("webauthn.get")
    es_cose = cose_es256(P256_G)
    ed_cose = cose_eddsa(bytes(range(32)))
    ad_es = auth_data(cose_key=es_cose)
    # "none" attestations: accepted when allowed.
    write(t, "reg_none_es256", joined(0, create, att_object("none", ad_es)))
    write(t, "reg_none_eddsa", joined(0, create, att_object("none", auth_data(counter=2, cose_key=ed_cose))))
    write(t, "reg_none_no_trust", joined(0x80, create, att_object("none", ad_es)))
    # Refusals.
    write(t, "reg_wrong_type", joined(0, get, att_object("none", ad_es)))
    write(t, "reg_cross_origin", joined(0, create.replace(b'"crossOrigin":false', b'"crossOrigin":true'),
                                        att_object("none", ad_es)))
    write(t, "reg_wrong_origin", joined(0, client_data("webauthn.create", origin="https://gw.example.com"),
                                        att_object("none", ad_es)))
    write(t, "reg_wrong_challenge", joined(0, client_data("webauthn.create", challenge=b"\x5b" * 32),
                                           att_object("none", ad_es)))
    write(t, "reg_wrong_rp", joined(0, create, att_object("none", auth_data(cose_key=es_cose, rp_id="example.com"))))
    write(t, "reg_no_uv", joined(0, create, att_object("none", auth_data(flags=UP, cose_key=es_cose))))
    write(t, "reg_no_credential", joined(0, create, att_object("none", auth_data())))
    write(t, "reg_empty_id", joined(0, create, att_object("none", auth_data(cose_key=es_cose, cred_id=b""))))
    write(t, "reg_unknown_fmt", joined(0, create, att_object("tpm", ad_es, {"ver": "2.0"})))
    write(t, "reg_packed_bad_sig", joined(0, create, att_object("packed", ad_es, {"alg": -7, "sig": b"\x30\x00",
                                                                                 "x5c": [b"\x30\x03\x02\x01\x01"]})))
    write(t, "reg_unicode_json", joined(0, client_data("webauthn.create", extra=',"tokenBinding":{"status":"\u00e9t\u00e9"}')
                                         .replace(b"\\u00e9", "\u00e9".encode()), att_object("none", ad_es)))
    write(t, "reg_not_cbor_map", joined(0, create, cbor(["fmt", "none"])))
    write(t, "reg_trailing_cbor", joined(0, create, att_object("none", ad_es) + b"\x00"))
    # Assertions against the fixed credentials (their keys are thrown away).
    ad = auth_data(counter=6)
    write(t, "assert_es256_bad_sig", joined(1, get, ad, b"\x30\x06\x02\x01\x01\x02\x01\x01"))
    write(t, "assert_eddsa_bad_sig", joined(2, get, ad, bytes(64)))
    write(t, "assert_no_up", joined(1, get, auth_data(flags=UV, counter=6), bytes(70)))
    write(t, "assert_short_auth_data", joined(2, get, ad[:36], bytes(64)))
    write(t, "assert_unknown_id", joined(1, get, ad, bytes(70), b"cred-unknown"))
    # Encodings only (the payload is also checked as base64url and UTF-8).
    write(t, "text_base64url", u8(1) + b64url(bytes(range(64))).encode())
    write(t, "text_utf8", u8(2) + "Z\u00fcrich \u20ac \U0001f511 \ud7ff\ue000\U0010ffff".encode("utf-8", "surrogatepass"))
    write(t, "text_bad_utf8", u8(2) + b"\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe0\x80\x80 \xc3")


def main():
    regen_keys = "--keys" in sys.argv[1:]
    ingress_name()
    selector()
    config()
    hr()
    sftp()
    cast()
    stream()
    command_index()
    public_key(regen_keys)
    known_hosts()
    user_ca()
    split_words()
    wire()
    sk_attestation(regen_keys)
    webauthn(regen_keys)


if __name__ == "__main__":
    main()
