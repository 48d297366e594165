# Build environment for `cargo build --release --features cuda` on a machine
# with no CUDA toolkit (source it: `source scripts/cuda-env.sh`).
#
# It installs NVIDIA's CUDA 13.0 wheels from PyPI into a virtual environment
# (nvcc, the runtime, cuBLAS, cuRAND, NVRTC, the CCCL headers), adds the
# unversioned library names the linker asks for, and, when no NVIDIA driver is
# installed, a link-only `libcuda.so` stub: the binary then loads the real
# driver (`libcuda.so.1`) on the GPU machine. It exports CUDA_ROOT, CUDA_PATH,
# PATH and CUDA_COMPUTE_CAP for candle's build scripts.
#
# CUDA 13.0 matches the driver of the GPU machines this project is tested on
# (580.x); a binary built here needs a driver that runs CUDA 13.0 (>= 580).
# Settings (environment): CISFORMER_CUDA_DIR (where to install; default
# $HOME/.cache/cisformer-cuda13.0), CUDA_COMPUTE_CAP (default 90: H100/H200),
# CISFORMER_CUDA_COMPILE_ONLY=1 (only what `cargo check --features cuda` needs, as CI runs).

_cisformer_cuda_env() {
    local dir="${CISFORMER_CUDA_DIR:-$HOME/.cache/cisformer-cuda13.0}"
    local py="${PYTHON:-python3}"
    if [ ! -x "$dir/venv/bin/python" ]; then
        "$py" -m venv "$dir/venv" || return 1
    fi
    # Pinned: a newer nvcc writes PTX that a 13.0 driver refuses to load. A compile
    # check (`cargo check`) needs only the compiler and headers; linking needs the libraries.
    local wheels=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
        nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85)
    if [ "${CISFORMER_CUDA_COMPILE_ONLY:-0}" != 1 ]; then
        wheels+=(nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88)
    fi
    "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheels[@]}" \
        || return 1
    local root
    root="$("$dir/venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')" || return 1
    [ -x "$root/bin/nvcc" ] || { echo "cuda-env: no nvcc in $root/bin" >&2; return 1; }

    # The wheels ship only versioned names (libcublas.so.13); `-lcublas` needs the bare one.
    local lib
    for lib in "$root"/lib/lib*.so.*; do
        local base="${lib%%.so.*}.so"
        [ -e "$base" ] || ln -s "$(basename "$lib")" "$base"
    done

    # Link-only driver stub: every driver API entry point of cuda.h, each answering
    # CUDA_ERROR_NO_DEVICE (100), with the driver's soname so that the real driver is
    # loaded at run time.
    if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so '; then
        if [ ! -e "$root/lib/libcuda.so" ]; then
            local tmp
            tmp="$(mktemp -d)" || return 1
            local stream
            for stream in "" "-D__CUDA_API_PER_THREAD_DEFAULT_STREAM"; do
                echo '#include <cuda.h>' | cc -E $stream -I"$root/include" - \
                    | grep -oE '\bCUresult +cu[A-Za-z0-9_]+ *\(' \
                    | sed -E 's/CUresult +//; s/ *\(//' >>"$tmp/names"
            done
            sort -u "$tmp/names" | sed 's/.*/int &(void) { return 100; }/' >"$tmp/stub.c"
            cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/libcuda.so" "$tmp/stub.c" || return 1
            rm -rf "$tmp"
        fi
    fi

    export CUDA_ROOT="$root" CUDA_PATH="$root"
    export PATH="$root/bin:$PATH"
    export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
    echo "cuda-env: $("$root/bin/nvcc" --version | tail -n 2 | head -n 1); CUDA_ROOT=$root; compute capability $CUDA_COMPUTE_CAP" >&2
}

_cisformer_cuda_env
