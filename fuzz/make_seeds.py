#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (small valid and
near-valid inputs; libFuzzer mutates from these).

    fuzz/make_seeds.py            # rewrite every corpus
    fuzz/make_seeds.py --keys     # also regenerate the ssh-keygen key lines

The public key seeds are real OpenSSH key lines made with ssh-keygen; they
are kept in the repository and only regenerated with --keys (new random
keys each time). Everything else is deterministic. Run from anywhere.
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
SSH_FXP_READ, SSH_FXP_WRITE, SSH_FXP_SETSTAT, SSH_FXP_FSETSTAT = 5, 6, 9, 10
SSH_FXP_REMOVE, SSH_FXP_MKDIR, SSH_FXP_RMDIR = 13, 14, 15
SSH_FXP_RENAME, SSH_FXP_SYMLINK = 18, 20
SSH_FXP_STATUS, SSH_FXP_HANDLE, SSH_FXP_DATA = 101, 102, 103
SSH_FXP_EXTENDED = 200
FXF_READ, FXF_WRITE, FXF_CREAT, FXF_TRUNC = 0x01, 0x02, 0x08, 0x10


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


def main():
    regen_keys = "--keys" in sys.argv[1:]
    ingress_name()
    selector()
    config()
    hr()
    sftp()
    cast()
    public_key(regen_keys)
    user_ca()
    split_words()
    wire()


if __name__ == "__main__":
    main()
