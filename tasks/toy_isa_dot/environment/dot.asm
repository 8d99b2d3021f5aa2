; Dot product of A[0..511] (memory 4096..4607) and B[0..511] (memory 8192..8703).
; Result in r1 at halt. The straightforward loop: one element per trip.
        li   r1, 0          ; sum
        li   r2, 4096       ; pointer into A
        li   r3, 8192       ; pointer into B
        li   r4, 512        ; elements left
loop:
        ld   r5, 0(r2)      ; A[i]
        ld   r6, 0(r3)      ; B[i]
        mul  r7, r5, r6
        add  r1, r1, r7
        addi r2, r2, 1
        addi r3, r3, 1
        addi r4, r4, -1
        bne  r4, r0, loop
        halt
