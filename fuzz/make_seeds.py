#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/ (run from the repository root).

The seeds are committed; this script only documents how they were made.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
SEP = b"\n#next\n"  # harness::ENGINE_SEPARATOR


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def crlf(text):
    return text.replace("\n", "\r\n").encode()


def sip(head, body=b""):
    head = crlf(head.strip("\n") + "\n")
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def rtp(pt, seq, ts, payload, marker=False, ssrc=0x5EED5EED):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc) + payload


def dtmf(event, end, duration, seq, ts, marker=False):
    flags = 0x80 | 10 if end else 10
    return rtp(101, seq, ts, struct.pack("!BBH", event, flags, duration), marker)


SDP = crlf("""v=0
o=carrier 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 8 0 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
""")

DIALOG = """From: "Caller" <sip:13800138000@127.0.0.1>;tag=caller1
Call-ID: seed-call-1@127.0.0.1
Max-Forwards: 70"""

INVITE = sip(f"""INVITE sip:4008001234@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-seed-1
{DIALOG}
To: <sip:4008001234@127.0.0.1>
CSeq: 1 INVITE
Contact: <sip:13800138000@127.0.0.1:5091>
Content-Type: application/sdp""", SDP)

ACK = sip(f"""ACK sip:4008001234@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-seed-2
{DIALOG}
To: <sip:4008001234@127.0.0.1>;tag=$TAG
CSeq: 1 ACK""")

INFO = sip(f"""INFO sip:4008001234@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-seed-3
{DIALOG}
To: <sip:4008001234@127.0.0.1>;tag=$TAG
CSeq: 2 INFO
Content-Type: application/dtmf-relay""", crlf("Signal=5\nDuration=160\n"))

BYE = sip(f"""BYE sip:4008001234@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-seed-4
{DIALOG}
To: <sip:4008001234@127.0.0.1>;tag=$TAG
CSeq: 3 BYE""")

OPTIONS = (b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
           b"v: SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-opt,\r\n"
           b" SIP/2.0/TCP proxy.example;branch=z9hG4bK-p\r\n"
           b"f: <sip:probe@127.0.0.1>;tag=p1\r\nt: <sip:127.0.0.1>\r\n"
           b"i: opt-1\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n")

OK = sip("""SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-out;received=127.0.0.1;rport=5060
From: <sip:4008001234@127.0.0.1>;tag=ours
To: <sip:13800138000@127.0.0.1>;tag=caller1
Call-ID: seed-call-1@127.0.0.1
CSeq: 1 BYE""")

with open(os.path.join(ROOT, "..", "..", "tests", "data", "sip", "sipp_uac_invite.sip"), "rb") as f:
    SIPP = f.read()

write("sip_message", "sipp_invite", SIPP)
write("sip_message", "compact_options", OPTIONS)
write("sip_message", "response_200", OK)
write("sip_framing", "ping_options_invite", b"\r\n\r\n" + OPTIONS + SIPP)
write("sdp", "offer", SDP)

audio = rtp(0, 1, 160, b"\xff" * 20)
write("rtp", "pcmu", audio)
# CSRC count 1, one extension word, 4 bytes of padding.
write("rtp", "csrc_ext_pad", bytes([0xB1, 0x08]) + audio[2:12] + b"\x00\x00\x00\x09"
      + b"\xbe\xde\x00\x01" + b"\x10\x20\x30\x40" + b"\xd5" * 8 + b"\x00\x00\x00\x04")
write("rtp", "rtcp_sr", bytes([0x80, 0xC8, 0x00, 0x06]) + b"\x00" * 24)
stream = [dtmf(1, False, 160, 10, 8000, True), dtmf(1, True, 800, 11, 8000),
          dtmf(1, True, 800, 12, 8000), dtmf(11, False, 160, 13, 9600, True),
          dtmf(11, True, 640, 14, 9600), audio]
write("rtp", "dtmf_1_hash_records", b"".join(bytes([len(p)]) + p for p in stream))

engine = [INVITE, ACK, audio,
          dtmf(1, False, 160, 2, 1000, True), dtmf(1, True, 800, 3, 1000),
          dtmf(1, True, 800, 4, 1000), INFO,
          dtmf(11, True, 640, 5, 3000, True), BYE]
write("engine", "invite_dtmf_bye", SEP.join(engine))
write("engine", "options", OPTIONS)

# webrtc: an offer Chromium 156 made (tests/data/webrtc/), then a candidate
# and datagrams (a STUN header, a DTLS record, SRTP-looking bytes).
CHROME = open(os.path.join(os.path.dirname(ROOT), "..", "tests", "data", "webrtc",
                           "chrome-156-offer.sdp"), "rb").read()
write("webrtc", "chrome-offer", CHROME)
write("webrtc", "chrome-offer-candidate-stun", CHROME + SEP +
      b"candidate:1 1 udp 2122260223 192.0.2.10 40000 typ host" + SEP +
      bytes.fromhex("000100002112a442") + b"\x00" * 12)
write("webrtc", "opus-only", CHROME.replace(b" 111 63 9 0 8 13 110 126", b" 111"))
write("webrtc", "dtls-garbage", CHROME + SEP + b"" + SEP + bytes([0x16, 0xfe, 0xfd]) +
      b"\x00" * 40 + SEP + rtp(0, 1, 160, b"\xff" * 160, ssrc=1))
