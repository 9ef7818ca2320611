from thygan.cli.dlc_eval import dlc_eval_command

if __name__ == "__main__":
    dlc_eval_command()
