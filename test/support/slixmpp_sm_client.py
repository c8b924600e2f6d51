"""
A third-party XMPP client for the tests: slixmpp (Debian's python3-slixmpp) with its XEP-0198 plugin, logging in
over STARTTLS (trusting the test CA), enabling stream management with resumption, and reconnecting whenever its
connection drops (resuming the session when the server still has it). It reports what happens as one JSON object
per line on stdout: started, enabled, message (id and body), disconnected, resumed, failed.

Usage: /usr/bin/python3 slixmpp_sm_client.py JID PASSWORD HOST PORT CA_FILE
Runs until stdin closes.
"""
import asyncio
import json
import logging
import sys

import slixmpp


def report(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, address, ca_file):
        # SCRAM-SHA-1 without channel binding: the mechanism the other clients of the tests use.
        super().__init__(jid, password, sasl_mech="SCRAM-SHA-1")
        self.address = address
        self.ca_certs = ca_file
        self.register_plugin("xep_0198")
        # The server asks for acks itself; the client also asks after every stanza it sends.
        self.plugin["xep_0198"].window = 1
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("sm_enabled", lambda _: report("enabled"))
        self.add_event_handler("session_resumed", lambda _: report("resumed"))
        self.add_event_handler("sm_failed", lambda _: report("failed"))
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("connection_failed", self.on_disconnected)

    async def on_start(self, _event):
        self.send_presence()
        report("started", jid=str(self.boundjid))

    def on_message(self, message):
        report("message", id=message["id"], body=message["body"])

    def on_disconnected(self, _event):
        report("disconnected")
        # Back in a moment, through the same address; the plugin resumes when it holds a session id.
        asyncio.get_event_loop().call_later(0.5, lambda: self.connect(self.address))


async def main():
    jid, password, host, port, ca_file = sys.argv[1:6]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    client = Client(jid, password, (host, int(port)), ca_file)
    client.connect(client.address)
    # Until the test closes stdin.
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    client.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
