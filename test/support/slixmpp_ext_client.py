"""
A third-party XMPP client for the tests: slixmpp (Debian's python3-slixmpp) with the plugins everyday clients use at
login — XEP-0280 carbons, XEP-0191 blocking, XEP-0048 bookmarks in XEP-0049 private storage. At session start it
enables carbons, reads its blocklist and stores and reads back a bookmark, then follows the commands the test writes
on stdin, one JSON object per line: {"cmd": "block"|"unblock", "jid": ...} or {"cmd": "send", "to", "id", "body"}.
It reports what happens as one JSON object per line on stdout.

Usage: /usr/bin/python3 slixmpp_ext_client.py JID PASSWORD HOST PORT CA_FILE
Runs until stdin closes.
"""
import asyncio
import json
import logging
import sys

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048.stanza import Bookmarks


def report(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def inner(message, direction):
    """The message a carbon forwards, as the plugin's event hands it over (the XEP-0297 wrapper read as XML)."""
    path = f"{{urn:xmpp:carbons:2}}{direction}/{{urn:xmpp:forward:0}}forwarded/{{jabber:client}}message"
    forwarded = message.xml.find(path)
    body = forwarded.find("{jabber:client}body")
    return {
        "id": forwarded.get("id"),
        "from": forwarded.get("from"),
        "to": forwarded.get("to"),
        "body": None if body is None else body.text,
    }


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, ca_file):
        super().__init__(jid, password, sasl_mech="SCRAM-SHA-1")
        self.ca_certs = ca_file
        for plugin in ("xep_0030", "xep_0280", "xep_0191", "xep_0049", "xep_0048"):
            self.register_plugin(plugin)
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("carbon_sent", lambda m: report("carbon_sent", **inner(m, "sent")))
        self.add_event_handler("carbon_received", lambda m: report("carbon_received", **inner(m, "received")))
        self.add_event_handler("blocked", lambda iq: report("pushed_block", items=sorted(map(str, iq["block"]["items"]))))
        self.add_event_handler(
            "unblocked", lambda iq: report("pushed_unblock", items=sorted(map(str, iq["unblock"]["items"])))
        )
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_message)

    async def on_start(self, _event):
        try:
            await self.login_steps()
        except Exception as error:  # reported, so that the test shows what the client met
            report("failure", error=repr(error))

    async def login_steps(self):
        await self.plugin["xep_0280"].enable()
        blocklist = await self.plugin["xep_0191"].get_blocked()
        bookmarks = Bookmarks()
        bookmarks.add_conference("council@conference.example", "al", name="Council", autojoin=True)
        await self.plugin["xep_0048"].set_bookmarks(bookmarks)
        stored = await self.plugin["xep_0048"].get_bookmarks()
        conferences = [
            {"jid": str(c["jid"]), "nick": c["nick"], "name": c["name"], "autojoin": c["autojoin"]}
            for c in stored["private"]["bookmarks"]["conferences"]
        ]
        self.send_presence()
        report("started", blocklist=sorted(map(str, blocklist["blocklist"]["items"])), bookmarks=conferences)

    def on_message(self, message):
        copy = any(message.xml.find(f"{{urn:xmpp:carbons:2}}{name}") is not None for name in ("sent", "received"))
        if copy:
            return
        if message["type"] == "error":
            report("error", id=message["id"], condition=message["error"]["condition"], xml=str(message))
        else:
            report("message", id=message["id"], body=message["body"])

    async def command(self, line):
        order = json.loads(line)
        try:
            if order["cmd"] in ("block", "unblock"):
                await getattr(self.plugin["xep_0191"], order["cmd"])(order["jid"])
                report(order["cmd"] + "_result")
            elif order["cmd"] == "send":
                message = self.make_message(mto=order["to"], mbody=order["body"], mtype="chat")
                message["id"] = order["id"]
                message.send()
        except IqError as error:
            report("iq_error", condition=error.iq["error"]["condition"])


async def main():
    jid, password, host, port, ca_file = sys.argv[1:6]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    client = Client(jid, password, ca_file)
    client.connect((host, int(port)))
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip():
            await client.command(line)
    client.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
