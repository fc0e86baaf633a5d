import sys
from pathlib import Path

# `python -m bot` puts the working directory first on sys.path, where a folder named like one
# of our packages (an operator's prompts/ of question sets, say) would shadow it: the folder
# that holds our packages goes first instead.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.cli import main

main()
