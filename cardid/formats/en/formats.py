# Dates on cardid's pages in English: the ISO form, as administrators everywhere read it
# (Django's English formats are the American ones).
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
