"""The console's forms. They check the shape of what was typed and put every problem beside
its field; the services decide what is allowed and store it."""

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cardid.cards.models import ConversionRule
from cardid.config import options
from cardid.config import services as config
from cardid.config.screens import (
    LABELS,
    LANGUAGE_TABS,
    SOURCE_SECTIONS,
    OptionsPage,
    choice_label,
    hint,
)
from cardid.config.services import OptionProblems
from cardid.outbound.services import MEANINGS


class Form(forms.Form):
    """The console's forms: labels without a colon ("Paper", not "Paper:")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def _label(opt: options.Option) -> str:
    words = _(LABELS.get(opt.key) or opt.help)
    return words[:1].upper() + words[1:]


class OptionsForm(Form):
    """One Options page: a field per option, typed by its declaration, with the edit version
    each option had when the page was shown (a second administrator's change is a conflict)."""

    versions = forms.JSONField(widget=forms.HiddenInput, required=False)

    def __init__(self, page: OptionsPage, *args, **kwargs):
        self.page = page
        current = config.get_many(*page.keys)
        initial = {k: v for k, v in current.items() if options.get(k).kind != "secret"}
        initial["versions"] = {k: config.version(k) for k in page.keys}
        super().__init__(*args, initial=initial, **kwargs)
        self.secret_set = {k for k in page.keys if options.get(k).kind == "secret" and current[k]}
        for key in page.keys:
            self.fields[key] = self._field(options.get(key))

    def _field(self, opt: options.Option) -> forms.Field:
        # A label of the console's own wording keeps a help line below it where it needs one.
        help_text = hint(opt.key, opt.help)
        common = {
            "label": _label(opt),
            "help_text": _(help_text) if help_text else "",
            "required": False,
        }
        if opt.kind == "bool":
            return forms.BooleanField(**common)
        if opt.kind == "choice":
            return forms.ChoiceField(
                choices=[(c, _(choice_label(opt.key, c))) for c in opt.choices], **common
            )
        if opt.kind == "secret":
            common["help_text"] = _("leave blank to keep the stored value")
            return forms.CharField(widget=forms.PasswordInput(render_value=False), **common)
        if opt.kind == "int":
            attrs = {}
            if opt.minimum is not None:
                attrs["min"] = int(opt.minimum)
            if opt.maximum is not None:
                attrs["max"] = int(opt.maximum)
            return forms.CharField(widget=forms.NumberInput(attrs=attrs), **common)
        if opt.key.startswith("notify.card.body"):
            return forms.CharField(widget=forms.Textarea(attrs={"rows": 10}), strip=False, **common)
        return forms.CharField(**common)

    def sections(self):
        """(title, fields, source, code): `source` names the sync source a section belongs
        to, so that the page shows only the chosen source's settings; `code` is the title as
        the code knows it (a language tab's is "lang:<code>")."""
        tabs = {title: f"lang:{code}" for code, title in LANGUAGE_TABS.items()}
        for title, keys in self.page.sections:
            code = tabs.get(title, title)
            yield _(title), [self[k] for k in keys], SOURCE_SECTIONS.get(title, ""), code

    def chosen_source(self) -> str:
        if "sync.source" not in self.fields:
            return ""
        return str(self["sync.source"].value() or "none")

    def clean(self):
        data = super().clean()
        for key in self.page.keys:
            if key not in data:
                continue
            opt = options.get(key)
            if opt.kind == "secret" and not data[key]:
                continue
            try:
                opt.parse(data[key])
            except options.OptionError as e:
                self.add_error(key, str(e))
        return data

    def changes(self) -> dict:
        """The values to store: every option of the page, but a blank secret is kept."""
        out = {}
        for key in self.page.keys:
            value = self.cleaned_data.get(key)
            if options.get(key).kind == "secret" and not value:
                continue
            out[key] = value
        return out

    def versions_seen(self) -> dict[str, int]:
        seen = self.cleaned_data.get("versions")
        if not isinstance(seen, dict):
            return {}  # not what the page sent: every option counts as unseen (a conflict)
        return {k: v for k, v in seen.items() if isinstance(v, int)}

    def save(self, actor) -> list[str]:
        try:
            return config.set_many(
                values=self.changes(), actor=actor, versions=self.versions_seen()
            )
        except OptionProblems as e:
            for key, message in e.problems.items():
                self.add_error(key if key in self.fields else None, message)
            return []


class LoginForm(Form):
    username = forms.CharField(
        label=gettext_lazy("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        max_length=1024,
    )


SLOTS = [("primary", gettext_lazy("Primary")), ("secondary", gettext_lazy("Secondary"))]


class BulkForm(Form):
    """Groups › Bulk User Actions."""

    target = forms.ChoiceField(
        label=gettext_lazy("Apply to"),
        choices=[
            ("all", gettext_lazy("[All Users]")),
            ("group", gettext_lazy("A group")),
            ("users", gettext_lazy("A list of users")),
            ("user", gettext_lazy("One user")),
        ],
        widget=forms.RadioSelect,
        initial="group",
    )
    group = forms.CharField(
        label=gettext_lazy("Group"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "group-names", "autocomplete": "off"}),
    )
    usernames = forms.CharField(
        label=gettext_lazy("Users (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2_000_000,
    )
    user = forms.CharField(label=gettext_lazy("User"), required=False, max_length=200)
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        choices=[
            ("primary", gettext_lazy("Generate random primary Card/ID number")),
            ("secondary", gettext_lazy("Generate random secondary Card/ID number")),
        ],
        widget=forms.RadioSelect,
        initial="primary",
    )
    replace = forms.ChoiceField(
        label=gettext_lazy("Users who already have a number"),
        choices=[
            ("blank", gettext_lazy("Only where blank (keep existing numbers)")),
            ("replace", gettext_lazy("Replace")),
        ],
        widget=forms.RadioSelect,
        initial="blank",
    )
    notify = forms.BooleanField(label=gettext_lazy("Notify the users by e-mail"), required=False)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    # Up to this many groups are a choice; beyond, the name is typed (with suggestions).
    SELECT_LIMIT = 1000

    def __init__(self, *args, group_names: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        names = list(group_names)
        self.group_list = len(names) > self.SELECT_LIMIT
        if not self.group_list:
            self.fields["group"].widget = forms.Select(
                choices=[("", _("— choose a group —")), *((n, n) for n in names)]
            )


class Distinct(Form):
    """A form that shares a page with others: its own element ids, so that each label points
    at its own field (the field names stay as they are)."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class NumbersForm(Form):
    """Edit a user's numbers; a blank field clears that number."""

    primary = forms.CharField(
        label=gettext_lazy("Primary Card/ID number"), required=False, max_length=200
    )
    secondary = forms.CharField(
        label=gettext_lazy("Secondary Card/ID number"), required=False, max_length=200
    )


class GenerateForm(Distinct):
    id_prefix = "generate"
    slot = forms.ChoiceField(choices=SLOTS)
    notify = forms.BooleanField(label=gettext_lazy("Notify the user by e-mail"), required=False)


class PinForm(Form):
    pin = forms.CharField(
        label=gettext_lazy("New PIN"),
        required=False,
        max_length=64,
        widget=forms.PasswordInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=gettext_lazy(
            "digits only; leave blank and press Remove PIN to take the PIN away"
        ),
    )


class SearchForm(Form):
    q = forms.CharField(
        label=gettext_lazy("Username, name or Card/ID number"), required=False, max_length=200
    )


class PrintForm(Form):
    slot = forms.ChoiceField(label=gettext_lazy("Number"), choices=SLOTS, initial="primary")
    paper = forms.ChoiceField(
        label=gettext_lazy("Paper"),
        choices=[("a4", gettext_lazy("A4")), ("letter", gettext_lazy("Letter"))],
    )
    qr = forms.BooleanField(label=gettext_lazy("Add a QR code"), required=False)


class PreviewForm(Distinct):
    id_prefix = "preview"
    username = forms.CharField(label=gettext_lazy("Preview for user"), max_length=200)
    language = forms.ChoiceField(
        label=gettext_lazy("In the language"),
        required=False,
        choices=[
            ("", gettext_lazy("the user's own")),
            ("en", gettext_lazy("English")),
            ("de", gettext_lazy("German")),
            ("fr", gettext_lazy("French")),
            ("es", gettext_lazy("Spanish")),
        ],
    )


class TestMailForm(Distinct):
    id_prefix = "mail"
    address = forms.EmailField(label=gettext_lazy("Send a test e-mail to"), max_length=254)


class RuleForm(Distinct):
    id_prefix = "rule"
    name = forms.CharField(label=gettext_lazy("Rule name"), max_length=100)
    chain = forms.CharField(
        label=gettext_lazy("Steps"),
        max_length=1000,
        help_text=gettext_lazy('for example "reverse-bytes,hex2dec,pad:10"'),
    )


class TryRuleForm(Distinct):
    id_prefix = "try"
    chain = forms.CharField(label=gettext_lazy("Steps (or a rule's name)"), max_length=1000)
    value = forms.CharField(label=gettext_lazy("Value as the reader sends it"), max_length=64)


class DeriveForm(Distinct):
    id_prefix = "derive"
    pairs = forms.CharField(
        label=gettext_lazy(
            "Samples: reader value, number on the card (one pair per line, three or more)"
        ),
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=20_000,
    )


class AuditFilterForm(Form):
    actor = forms.CharField(label=gettext_lazy("Who"), required=False, max_length=200)
    action = forms.CharField(label=gettext_lazy("Action"), required=False, max_length=60)
    target = forms.CharField(label=gettext_lazy("Subject"), required=False, max_length=200)
    door = forms.ChoiceField(
        label=gettext_lazy("Door"),
        required=False,
        choices=[("", gettext_lazy("any"))]
        + [(d, d) for d in ("console", "portal", "api", "xmlrpc", "cli", "sync", "system")],
    )
    since = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("the end date is before the start date"))
        return data


class TokenForm(Distinct):
    """A new API token for a terminal or a script."""

    id_prefix = "token"
    name = forms.CharField(
        label=gettext_lazy("Name"), max_length=100, help_text=gettext_lazy("for example door-1")
    )
    scope = forms.ChoiceField(
        label=gettext_lazy("Scope"),
        choices=[
            ("lookup", gettext_lazy("lookup — terminals: look-ups and self-registration")),
            ("read", gettext_lazy("read — users, numbers, jobs")),
            ("write", gettext_lazy("write — everything, including changes")),
        ],
    )
    allow = forms.CharField(
        label=gettext_lazy("Allowed addresses"),
        required=False,
        max_length=2000,
        help_text=gettext_lazy("IP addresses or networks, separated by spaces; blank: any address"),
    )
    conversion = forms.ModelChoiceField(
        label=gettext_lazy("Conversion rule"),
        queryset=ConversionRule.objects.order_by("name"),
        to_field_name="name",
        required=False,
        empty_label=gettext_lazy("none"),
    )
    expires_days = forms.IntegerField(
        label=gettext_lazy("Expires after (days)"), required=False, min_value=1, max_value=36500
    )


MAX_IMPORT_BYTES = 50 * 2**20


class ImportForm(Form):
    file = forms.FileField(
        label=gettext_lazy("File: username, primary, secondary (comma- or tab-separated)"),
        help_text=gettext_lazy(
            "a first line username,primary,secondary is a header; a blank field keeps "
            "that number; nothing is applied unless every line is right"
        ),
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(
                _("the file has %(size)s bytes; at most %(most)s — split it")
                % {"size": f"{f.size:,}", "most": f"{MAX_IMPORT_BYTES:,}"}
            )
        return f


class WebhookForm(Distinct):
    """A new webhook."""

    id_prefix = "hook"
    url = forms.CharField(
        label=gettext_lazy("Receiver URL"),
        max_length=2000,
        help_text=gettext_lazy(
            "https://… (http:// on a trusted network); the host must be allowed under "
            "Delivery options"
        ),
    )
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=[(e, format_lazy("{}: {}", e, words)) for e, words in MEANINGS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy("none ticked: every event"),
    )
    include_number = forms.BooleanField(
        label=gettext_lazy("Send numbers in full"),
        required=False,
        help_text=gettext_lazy("off: numbers are masked to their last two characters"),
    )
