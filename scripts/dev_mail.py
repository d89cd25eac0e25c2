"""The mail server of `make dev`: prints every message it receives (so the links in them can be
followed from the terminal) and keeps its text in a directory, one file per message (so
`make dev` can confirm the demo account with the link its registration mailed).

    aiosmtpd -n -l 127.0.0.1:1025 -c dev_mail.PrintAndKeep .dev-mail   (PYTHONPATH=scripts)
"""

import os
import time

from aiosmtpd.handlers import Message


class PrintAndKeep(Message):
    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        super().__init__()

    def handle_message(self, message):
        body = message.get_payload(decode=True)
        text = body.decode("utf-8", "replace") if body else str(message.get_payload())
        mail = f"To: {message['To']}\nSubject: {message['Subject']}\n\n{text}"
        print(f"--- mail\n{mail}---", flush=True)
        name = os.path.join(self.directory, f"{time.time_ns()}.txt")
        with open(name, "w", encoding="utf-8") as file:
            file.write(mail)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("the directory to keep the mail in is required")
        return cls(args[0])
