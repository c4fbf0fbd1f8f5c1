#!/usr/bin/env python3
"""An independent WeChat implementation (wechatpy) on both sides of scangate's callback.

Used by tests/gateway/interop.rs. Two roles:

  backend  --port N --token T --aes K --appid A --log FILE
      The Official Account's own backend behind `forward_url`: checks the URL signature,
      decrypts each forwarded push with wechatpy, records it as one JSON line in FILE, and
      answers a text message "ping" with an encrypted text reply "pong" (anything else:
      "success"). Prints "ready" once listening.

  push     --url URL --token T --aes K --appid A
      WeChat pushing to the gateway: reads JSON pushes from stdin (one per line:
      {"event": "subscribe"|"SCAN", "key": ..., "ticket": ..., "openid": ...} or
      {"text": ..., "openid": ...}), encrypts each with wechatpy exactly as WeChat does in
      safe mode, POSTs it, and prints one JSON line per push: {"status", "reply"} where
      reply is the decrypted text of a passive reply (verified with wechatpy), or the body.
"""

import argparse
import hashlib
import json
import random
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlparse
from xml.etree import ElementTree

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

ACCOUNT = "gh_interop_account"


def crypto_of(args):
    return WeChatCrypto(args.token, args.aes, args.appid)


def backend(args):
    crypto = crypto_of(args)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def do_POST(self):
            query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            record = {"headers": {k.lower(): v for k, v in self.headers.items()}}
            try:
                check_signature(args.token, query["signature"], query["timestamp"], query["nonce"])
                xml = crypto.decrypt_message(
                    body, query["msg_signature"], query["timestamp"], query["nonce"]
                )
                msg = parse_message(xml)
                record.update(
                    {
                        "type": msg.type,
                        "event": getattr(msg, "event", None),
                        "key": getattr(msg, "key", None),
                        "scene_id": getattr(msg, "scene_id", None),
                        "from": msg.source,
                    }
                )
            except Exception as e:  # recorded: the test fails on it
                record["error"] = repr(e)
                msg = None
            with open(args.log, "a") as log:
                log.write(json.dumps(record) + "\n")
            answer = b"success"
            if msg is not None and msg.type == "text" and msg.content == "ping":
                reply = TextReply(content="pong", message=msg).render()
                answer = crypto.encrypt_message(reply, query["nonce"]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = HTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()


def push_xml(p, now):
    head = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{p['openid']}]]></FromUserName>"
        f"<CreateTime>{now}</CreateTime>"
    )
    if "text" in p:
        msg_id = random.randrange(10**15, 10**16)
        return (
            head + f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{p['text']}]]></Content>"
            f"<MsgId>{msg_id}</MsgId></xml>"
        )
    return (
        head + f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{p['event']}]]></Event>"
        f"<EventKey><![CDATA[{p['key']}]]></EventKey><Ticket><![CDATA[{p['ticket']}]]></Ticket></xml>"
    )


def push(args):
    crypto = crypto_of(args)
    for line in sys.stdin:
        if not line.strip():
            continue
        p = json.loads(line)
        now = str(int(time.time()))
        nonce = str(random.randrange(10**8, 10**9))
        sealed = crypto.encrypt_message(push_xml(p, now), nonce, now)
        parsed = parse_qs_xml(sealed)
        signature = "".join(sorted([args.token, now, nonce]))
        query = {
            "signature": hashlib.sha1(signature.encode()).hexdigest(),
            "timestamp": now,
            "nonce": nonce,
            "openid": p["openid"],
            "encrypt_type": "aes",
            "msg_signature": parsed["MsgSignature"],
        }
        request = urllib.request.Request(
            args.url + "?" + urlencode(query),
            data=f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{parsed['Encrypt']}]]></Encrypt></xml>".encode(),
            headers={"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read().decode()
        reply = body
        if body.startswith("<xml>"):
            r = parse_qs_xml(body)
            xml = crypto.decrypt_message(body, r["MsgSignature"], r["TimeStamp"], r["Nonce"])
            reply = parse_message(xml).content if "<Content>" in xml else xml
        print(json.dumps({"status": status, "reply": reply}), flush=True)


def parse_qs_xml(xml):
    return {child.tag: child.text for child in ElementTree.fromstring(xml)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["backend", "push"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--url")
    parser.add_argument("--log")
    parser.add_argument("--token", required=True)
    parser.add_argument("--aes", required=True)
    parser.add_argument("--appid", required=True)
    args = parser.parse_args()
    backend(args) if args.role == "backend" else push(args)


if __name__ == "__main__":
    main()
