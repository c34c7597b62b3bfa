"""The password hasher of the test process: Django's PBKDF2 with few iterations. Its hashes
are ordinary `pbkdf2_sha256$…` ones, which say their own iterations, so the cardid
processes a test starts (with the production hasher) read them as they are."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1_000
