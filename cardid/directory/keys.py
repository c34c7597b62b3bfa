"""How usernames and group names are matched: letter case folded, surrounding spaces gone
(no Django import). The UNIQUE keys of users and groups hold exactly this."""


def username_key(username: str) -> str:
    return username.strip().lower()


def group_key(name: str) -> str:
    return name.strip().lower()
