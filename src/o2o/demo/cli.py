import typer

app = typer.Typer(help="The demo city.", no_args_is_help=True)
