# Run by e2e_helpers.send_as / stream_as as `python3 -c <this source>` under another uid.
# Self-contained (stdlib only, no SDK import) so that it needs no read access to the repo.
# stdin, first line: a JSON config.
#   {"mode":"frames","socket":S,"timeout":5,"frames":[hex,...],"same_connection":false}
#       -> stdout: {"pid":..,"replies":[{"body":hex|null,"error":str|null}, ...]}
#   {"mode":"stream","socket":S,"secret":hex,"agent":A,"intent":I,"start_seq":N,"interval":0.02}
#       -> stdout: one JSON line per request {"seq":N,"t0":..,"t1":..,"token":..|null,"error":..|null}
#          until killed.
import hashlib, hmac, json, os, socket, struct, sys, time


def recv_reply(s):
    h = s.recv(5)
    if not h:
        return None, "closed"
    if len(h) != 5:
        return None, "short header %d" % len(h)
    n, v = struct.unpack(">IB", h)
    if v != 1:
        return None, "bad version %d" % v
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            return None, "closed mid-body"
        body += c
    return body, None


def frames_mode(cfg):
    out = []
    frames = [bytes.fromhex(f) for f in cfg["frames"]]
    timeout = cfg.get("timeout", 5)
    s = None
    for i, fr in enumerate(frames):
        try:
            if s is None or not cfg.get("same_connection"):
                if s is not None:
                    s.close()
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(cfg["socket"])
            s.sendall(fr)
            body, err = recv_reply(s)
            out.append({"body": body.hex() if body is not None else None, "error": err})
        except Exception as exc:  # noqa: BLE001
            out.append({"body": None, "error": "%s: %s" % (type(exc).__name__, exc)})
            s = None
    if s is not None:
        s.close()
    print(json.dumps({"pid": os.getpid(), "uid": os.getuid(), "replies": out}), flush=True)


def stream_mode(cfg):
    key = bytes.fromhex(cfg["secret"])
    seq = cfg["start_seq"]
    while True:
        payload = json.dumps({"intent_name": cfg["intent"], "agent_id": cfg["agent"],
                              "sequence_counter": seq, "session_privilege_bit": 0.0,
                              "action_risk_score": 10.0}, separators=(",", ":"))
        sig = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
        body = json.dumps({"payload": payload, "signature": sig}, separators=(",", ":")).encode()
        rec = {"seq": seq, "t0": time.monotonic(), "token": None, "error": None}
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(cfg.get("timeout", 5))
            s.connect(cfg["socket"])
            s.sendall(struct.pack(">IB", len(body), 1) + body)
            reply, err = recv_reply(s)
            s.close()
            if reply is not None:
                rec["token"] = reply.split(b"\n", 1)[0].decode("utf-8", "replace").replace("SIGNAL: ", "", 1)
            rec["error"] = err
        except Exception as exc:  # noqa: BLE001
            rec["error"] = "%s: %s" % (type(exc).__name__, exc)
        rec["t1"] = time.monotonic()
        print(json.dumps(rec), flush=True)
        seq += 1
        time.sleep(cfg.get("interval", 0.02))


cfg = json.loads(sys.stdin.readline())
if cfg["mode"] == "frames":
    frames_mode(cfg)
else:
    stream_mode(cfg)
