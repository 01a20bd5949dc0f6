"""A bundled list of common passwords that `passwords.check_password` refuses (data module).

Source: the most frequent entries (and their cores without trailing digits) of the public,
breach-derived lists in SecLists `Passwords/Common-Credentials` (10k-most-common.txt,
MIT licence, Daniel Miessler et al.) and the UK NCSC "100k most common" list, selected by
hand; plus Korean keyboard and romanised Korean favourites (`dkssud` is "안녕" typed on a
Korean keyboard in Latin mode, `sarang` "사랑"). A modest list on purpose: the rules of
passwords.py compare a password's lower-case core (`Password123!` -> `password`), so one entry
covers many variants. Extend it by adding lines; nothing is downloaded at run time.
"""

from __future__ import annotations

_LIST = """
password passw0rd p@ssw0rd p@ssword pass1234 passwort motdepasse contrasena wachtwoord
123456 1234567 12345678 123456789 1234567890 0123456789 987654321 9876543210 87654321
111111 11111111 000000 00000000 121212 112233 123123 123321 654321 666666 696969 777777
888888 999999 1111111111 1q2w3e4r 1q2w3e4r5t 1q2w3e 1qaz2wsx 2wsx3edc zaq12wsx zaq1zaq1
qwerty qwertyuiop qwerty123 qwer1234 asdfgh asdfghjkl asdf1234 zxcvbn zxcvbnm qazwsx
azerty abcdef abcd1234 abc12345 abcdefgh aaaaaa aa123456 a1b2c3d4 a123456789 q1w2e3r4
iloveyou iloveu loveme lovely loveyou letmein welcome welcome1 hello hello123 hellokitty
admin administrator admin123 root toor guest user login test test123 testing changeme
default secret secret123 master masterkey access access14 trustno1 whatever nothing
monkey dragon shadow sunshine princess football baseball basketball soccer hockey
superman batman spiderman starwars pokemon naruto freedom liberty mustang ferrari
michael jennifer jordan jordan23 charlie thomas robert daniel andrew joshua matthew
jessica ashley amanda michelle nicole hannah summer winter spring autumn
computer internet samsung google microsoft apple iphone android facebook linkedin
killer hunter ranger tigger buster ginger pepper cookie cheese banana orange chocolate
flower rainbow butterfly angel angels blessed jesus christ heaven purple forever
family friends friend mother father mybaby baby babygirl babyboy sweety sweetheart
qazwsxedc qweasdzxc 147258369 159753 159357 147258 258456 741852963 789456123 789456
asdasd qweqwe zxczxc asdqwe123 qweasd qwe123 zxc123 abc123 aaa111 q1w2e3 123qwe 123abc
passpass password1 password12 password123 welcome123 letmein1 monkey123 dragon123
football1 baseball1 princess1 sunshine1 iloveyou1 qwerty1 charlie1 superman1 shadow1
master1 michael1 jessica1 ashley1 jordan1 hunter2 trustnoone
factory factory1 company manager office business server database system network
admin1234 administrator1 operator engineer owner supervisor production machine
dkssud dkssudgktpdy dkssudgktpdy1 tkfkdgo sarang saranghae saranghaeyo saranghe
gksrmf gkswjd wjdqh rlaehd dkagh qwer1234! qwert12345 wkqdjs whdgkq
korea korea1 korea123 seoul busan daegu incheon samsung1 hyundai kimchi hangul
fkdlxm dltmdgus qudtls
"""

COMMON_PASSWORDS: frozenset[str] = frozenset(w for w in _LIST.split() if len(w) >= 4)
