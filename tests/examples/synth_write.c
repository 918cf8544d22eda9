/*
 * tests/examples/synth_write.c — writes the IJCNN1-shaped generator's sets
 * (ds_synth_ijcnn1, seed 1, as `--synthetic ijcnn1` uses it) as LIBSVM
 * files with every value in %.17g, so cli_synthetic.py can give the same
 * numbers to the CLI as files and compare.
 *   synth_write NTRAIN NVAL TRAIN.svm VAL.svm
 */
#include <hypertape/models/data.h>

#include <stdio.h>
#include <stdlib.h>

static int write_set(const ds_set *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    for (int i = 0; i < s->n; i++) {
        fprintf(f, "%+d", s->y[i] > 0 ? 1 : -1);
        for (int j = 0; j < s->d; j++)
            if (s->X[(size_t)i * s->d + j] != 0)
                fprintf(f, " %d:%.17g", j + 1, s->X[(size_t)i * s->d + j]);
        fputc('\n', f);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: synth_write NTRAIN NVAL TRAIN.svm VAL.svm\n");
        return 2;
    }
    ds_set tr = {0}, va = {0};
    char msg[256];
    if (ds_synth_ijcnn1(1, atoi(argv[1]), atoi(argv[2]), &tr, &va, msg, sizeof msg) != BL_OK) {
        fprintf(stderr, "synth_write: %s\n", msg);
        return 1;
    }
    int rc = write_set(&tr, argv[3]) || write_set(&va, argv[4]);
    ds_set_free(&tr);
    ds_set_free(&va);
    return rc;
}
