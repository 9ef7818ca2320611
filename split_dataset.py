from thygan.cli.split_dataset import split_dataset_command

if __name__ == "__main__":
    split_dataset_command()
