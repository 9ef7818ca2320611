from thygan.cli.dlc_train import dlc_train_command

if __name__ == "__main__":
    dlc_train_command()
