"""Theory chapters' models: the solvable linear VAE of Ichikawa & Hukushima (2023) and the
deterministic approximation of the beta-VAE of Kumar & Poole (2020)."""
