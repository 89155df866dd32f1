"""``kgen export``: a checkpoint's ``generate()`` as a TensorFlow SavedModel for serving.

The flags are the export options of every registered family (`kgen.models.registry`);
an option that the checkpoint's family does not have is an error that names it as typed.
"""

import os

from kgen.cli.errors import check_writable, fail
from kgen.cli.generate import load_checkpoint
from kgen.cli.run_folder import checkpoint_path


def export_options():
    """Every family's export options, one `kgen.models.registry.Option` per name."""
    from kgen.models import registry

    options = {}
    for family in registry.families():
        for option in family.export_options:
            options.setdefault(option.name, option)
    return list(options.values())


def export(args):
    """``kgen export``: writes the SavedModel of a checkpoint's sampler."""
    from kgen import export as exporter
    from kgen.cli.train import banner

    checkpoint_path(args.checkpoint)
    directory = args.directory
    if os.path.isfile(directory) or (os.path.isdir(directory) and os.listdir(directory)):
        fail(f"{directory!r} exists and is not an empty folder; export to a new folder.")
    check_writable(directory, "DIRECTORY")
    banner()
    names = [option.name for option in export_options()]
    options = {name: getattr(args, name) for name in names if getattr(args, name, None)
               is not None}
    model = load_checkpoint(args.checkpoint)
    try:
        exporter.export_generator(model, directory, **options)
    except (NotImplementedError, TypeError, ValueError) as error:
        message = str(error)
        for name in names:  # the option names as they are typed
            message = message.replace(f"'{name}'", f"'--{name.replace('_', '-')}'")
        fail(message)
    print(f"Wrote the SavedModel of {type(model).__name__} to {directory}")
    print(f"Inspect it with: saved_model_cli show --dir {directory} --all")
    return 0
