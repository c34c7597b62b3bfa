"""cardid config: list, get and set runtime options."""

from cardid.commands import CardidCommand
from cardid.config import options
from cardid.config import services as config


class Command(CardidCommand):
    help = "Runtime options: `config list`, `config get KEY`, `config set KEY VALUE`."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="every option with its value")
        ls.add_argument("--format", choices=["text", "json"], default="text")
        get = sub.add_parser("get", help="one option's value")
        get.add_argument("key")
        st = sub.add_parser("set", help="change one option (validated; takes effect at once)")
        st.add_argument("key")
        st.add_argument("value")

    def handle(self, *args, action, **opts):
        if action == "list":
            rows = config.all_values()
            if opts["format"] == "json":
                self.print_json(
                    {o.key: (o.display(v) if o.kind == "secret" else v) for o, v in rows}
                )
                return
            for o, v in rows:
                self.stdout.write(f"{o.key} = {o.display(v)}")
        elif action == "get":
            key = opts["key"]
            value = config.get(key)
            self.stdout.write(options.get(key).display(value))
        else:
            value = config.set_value(key=opts["key"], raw=opts["value"], actor=self.actor)
            self.note(f"{opts['key']} = {options.get(opts['key']).display(value)}")
