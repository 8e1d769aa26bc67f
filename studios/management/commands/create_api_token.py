"""Create a bearer token for the GraphQL API and print it, once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from studios.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (it is shown only once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument(
            "--name", default="command line", help="What the token is for."
        )

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(options["username"])
        except User.DoesNotExist:
            raise CommandError(
                f"No user {options['username']!r}. Create one first "
                "(manage.py createsuperuser, or in the admin)."
            ) from None
        if not user.is_active:
            raise CommandError(
                f"User {options['username']!r} is inactive; its tokens would be "
                "refused. Activate the user in the admin first."
            )
        token, key = api_token_create(user=user, name=options["name"])
        # Only the token goes to stdout, so scripts can capture it.
        self.stderr.write(
            self.style.SUCCESS(
                f"Token {token.name!r} ({token.key_prefix}…) created for "
                f"{options['username']}. It is shown only this once:"
            )
        )
        self.stdout.write(key)
